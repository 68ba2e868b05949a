/** Runs `npm install <spec>` in `dir` (a folder under .cache) unless `marker` exists yet. */
export declare function ensureCached(dir: string, marker: string, spec: string, who: string): void;
