/** Runs a baseline script (bench/baselines/*.ts) as its own process and collects its BENCH markers. */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { Marker } from './node-red';

const root = path.resolve(__dirname, '..');

export class BaselineProcess extends EventEmitter {
  readonly markers: Marker[] = [];
  readonly child: ChildProcess;
  private output = '';
  private exitPromise: Promise<number | null>;

  constructor(script: string, env: Record<string, string>, nodeArgs: string[] = []) {
    super();
    // BENCH_NODE_ARGS (e.g. --cpu-prof) applies to the baselines as to Node-RED.
    const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    this.child = spawn(process.execPath, [...nodeArgs, ...extra, '--import', 'tsx', path.join(root, 'bench/baselines', script)], {
      cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pending = '';
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      this.output = (this.output + text).slice(-20_000);
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^BENCH (\S+)((?: \S+)*)\s*$/.exec(line);
        if (!match) continue;
        const args = match[2].trim().split(' ').filter(Boolean);
        const marker: Marker = { kind: match[1], args: args.slice(0, -1), at: Number(args[args.length - 1]) };
        this.markers.push(marker);
        this.emit('marker', marker);
      }
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exitPromise = new Promise((resolve) => this.child.once('exit', (code) => {
      this.emit('exit', code);
      resolve(code);
    }));
  }

  log(): string {
    return this.output;
  }

  /** Resolves with the first marker of `kind`; rejects on an `error` marker, exit or timeout. */
  waitFor(kind: string, timeoutMs = 600_000): Promise<Marker> {
    const earlier = this.markers.find((m) => m.kind === kind);
    if (earlier) return Promise.resolve(earlier);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`${kind} not seen within ${timeoutMs} ms`)), timeoutMs);
      const onMarker = (marker: Marker): void => {
        if (marker.kind === kind) finish(undefined, marker);
        else if (marker.kind === 'error') finish(new Error(`baseline failed: ${marker.args.join(' ')}`));
      };
      const onExit = (code: number | null): void => {
        const found = this.markers.find((m) => m.kind === kind);
        if (found) finish(undefined, found);
        else finish(new Error(`baseline exited (${code}) before ${kind}:\n${this.output.slice(-2000)}`));
      };
      const finish = (error?: Error, marker?: Marker): void => {
        clearTimeout(timer);
        this.off('marker', onMarker);
        this.off('exit', onExit);
        if (error) reject(error);
        else resolve(marker as Marker);
      };
      this.on('marker', onMarker);
      this.on('exit', onExit);
    });
  }

  async exit(): Promise<number | null> {
    return this.exitPromise;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exitPromise;
    clearTimeout(timer);
  }
}
