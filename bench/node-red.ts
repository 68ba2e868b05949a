/**
 * A real Node-RED process for the benchmarks: fresh user directory (on the normal disk, as users
 * have it), our package and node-red-node-email linked into its node_modules, flows deployed over
 * the admin API (credentials included), and "BENCH …" marker lines that function nodes print,
 * read back with their timestamps. RSS comes from /proc (VmRSS now, VmHWM = peak).
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nodeRedLauncherPath } from '../test/support/node-red-package';
import { startNodeRed, type NodeRedProcess } from '../test/support/node-red-process';
import { ensureCached } from '../scripts/cache-install.cjs';
import { statusMb } from './baselines/markers';

const root = path.resolve(__dirname, '..');

export interface Marker {
  kind: string;
  args: string[];
  /** When the Node-RED process printed it (its own Date.now()). */
  at: number;
}

export interface MemorySample {
  rssMb: number;
  peakMb: number;
}

/** VmRSS and VmHWM of a process in MB; undefined once it is gone. */
export function memoryOf(pid: number): MemorySample | undefined {
  try {
    return { rssMb: statusMb('VmRSS', pid), peakMb: statusMb('VmHWM', pid) };
  } catch {
    return undefined;
  }
}

export class BenchNodeRed extends EventEmitter {
  readonly markers: Marker[] = [];
  private exitInfo?: string;

  constructor(readonly proc: NodeRedProcess, private readonly userDir: string) {
    super();
    // The token and scale phases wait for one marker per node at once (50–100 waiters).
    this.setMaxListeners(0);
    let pending = '';
    const onData = (chunk: Buffer): void => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        this.emit('line', line);
        const match = /BENCH (\S+)((?: \S+)*)\s*$/.exec(line);
        if (!match) continue;
        const args = match[2].trim().split(' ').filter(Boolean);
        const marker: Marker = { kind: match[1], args: args.slice(0, -1), at: Number(args[args.length - 1]) };
        this.markers.push(marker);
        this.emit('marker', marker);
      }
    };
    proc.child.stdout?.on('data', onData);
    proc.child.stderr?.on('data', onData);
    proc.child.once('exit', (code, signal) => {
      this.exitInfo = `exit ${code ?? ''}${signal ? ` signal ${signal}` : ''}`;
      this.emit('exit', this.exitInfo);
    });
  }

  get pid(): number {
    return this.proc.child.pid ?? -1;
  }

  /** The process's Node-RED user directory. */
  get userDirPath(): string {
    return this.userDir;
  }

  /** How the process ended, or undefined while it runs. */
  get exited(): string | undefined {
    return this.exitInfo;
  }

  memory(): MemorySample | undefined {
    return memoryOf(this.pid);
  }

  /** Replaces all flows (full deploy) with `nodes`; resolves with the time just before the request. */
  async deploy(nodes: unknown[]): Promise<number> {
    const startedAt = Date.now();
    const response = await fetch(`${this.proc.url}/flows`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(nodes),
    });
    if (response.status !== 204 && response.status !== 200) throw new Error(`deploy failed: ${response.status} ${await response.text()}`);
    return startedAt;
  }

  /**
   * Resolves with the first marker for which `accept` is true. Rejects when the process exits, or
   * after `idleMs` without any marker, or after `timeoutMs` overall.
   */
  waitFor(accept: (marker: Marker) => boolean, options: { idleMs?: number; timeoutMs?: number; fromIndex?: number; failOn?: RegExp } = {}): Promise<Marker> {
    const earlier = this.markers.slice(options.fromIndex ?? 0).find(accept);
    if (earlier) return Promise.resolve(earlier);
    return new Promise((resolve, reject) => {
      let idleTimer: NodeJS.Timeout | undefined;
      const armIdle = (): void => {
        if (!options.idleMs) return;
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => finish(new Error(`no progress for ${options.idleMs} ms`)), options.idleMs);
      };
      const overall = setTimeout(() => finish(new Error(`not done within ${options.timeoutMs} ms`)), options.timeoutMs ?? 600_000);
      const onMarker = (marker: Marker): void => {
        armIdle();
        if (accept(marker)) finish(undefined, marker);
      };
      const onExit = (info: string): void => finish(new Error(`Node-RED ended (${info})`));
      // A known fatal log line ends the wait at once instead of after idleMs.
      const onLine = (line: string): void => {
        if (options.failOn?.test(line)) finish(new Error(`gave up: ${line.replace(/^.*?\[(error|warn)\]\s*/, '').slice(0, 160)}`));
      };
      const finish = (error?: Error, marker?: Marker): void => {
        clearTimeout(idleTimer);
        clearTimeout(overall);
        this.off('marker', onMarker);
        this.off('exit', onExit);
        this.off('line', onLine);
        if (error) reject(error);
        else resolve(marker as Marker);
      };
      this.on('marker', onMarker);
      this.once('exit', onExit);
      this.on('line', onLine);
      armIdle();
    });
  }

  /** Log lines at error level or with `pattern`, for reporting what went wrong. */
  logLines(pattern: RegExp): string[] {
    return this.proc.log().split('\n').filter((line) => pattern.test(line));
  }

  async stop(): Promise<void> {
    await this.proc.stop('SIGINT');
    rmSync(this.userDir, { recursive: true, force: true });
  }
}

/** The version of node-red-node-email the figures compare with. */
export const EMAIL_NODE_VERSION = '5.2.5';

/**
 * node-red-node-email, installed once into .cache/bench-email. It lives outside the lock file:
 * its bundled dependencies make `npm ci` reject an otherwise valid lock file.
 */
export function emailNodePackage(): string {
  const dir = path.join(root, '.cache', 'bench-email');
  const installed = path.join(dir, 'node_modules', 'node-red-node-email');
  ensureCached(dir, path.join(installed, 'package.json'), `node-red-node-email@${EMAIL_NODE_VERSION}`, 'bench');
  return installed;
}

/**
 * Starts Node-RED with an empty flow; `nodeArgs` go to node itself (e.g. --max-old-space-size=96).
 * NODE_EXTRA_CA_CERTS must be set in this process's environment (run.ts does it).
 */
export async function startBenchNodeRed(options: { nodeArgs?: string[]; packages?: Array<'ours' | 'email'> } = {}): Promise<BenchNodeRed> {
  // BENCH_USERDIR_BASE=/dev/shm shows what the disk (fsync of checkpoints) costs.
  const userDir = mkdtempSync(path.join(process.env.BENCH_USERDIR_BASE ?? os.tmpdir(), 'm365-bench-nr-'));
  const modules = path.join(userDir, 'node_modules');
  // Only the package under test is installed, so its RSS is not inflated by the other one.
  const packages = options.packages ?? ['ours'];
  mkdirSync(path.join(modules, '@m365-mail'), { recursive: true });
  if (packages.includes('ours')) symlinkSync(root, path.join(modules, '@m365-mail', 'node-red-m365-mail'), 'dir');
  if (packages.includes('email')) symlinkSync(emailNodePackage(), path.join(modules, 'node-red-node-email'), 'dir');
  const proc = await startNodeRed({
    userDir,
    launcher: nodeRedLauncherPath(),
    flows: [],
    // BENCH_NODE_ARGS (e.g. --cpu-prof) is for looking into a run, not for the figures.
    nodeArgs: [...(options.nodeArgs ?? []), ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    settings: { logging: { console: { level: 'info', metrics: false, audit: false } }, editorTheme: { tours: false } },
    // Sub-millisecond wall time for the function nodes' markers (their sandbox has only Date).
    settingsCode: "module.exports.functionGlobalContext = { benchNow: () => require('perf_hooks').performance.timeOrigin + require('perf_hooks').performance.now() };",
  });
  const red = new BenchNodeRed(proc, userDir);
  await proc.waitForLog(/Started flows/, 30_000);
  return red;
}
