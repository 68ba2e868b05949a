/**
 * A real Node-RED process (so it can be SIGKILLed and started again on the same user directory)
 * with our package linked into its node_modules, whose flows end in recorder function nodes that
 * print "REC <label> <message-id>" for every msg. Lines written before a kill are still read:
 * Node's console writes to a pipe synchronously.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nodeRedLauncherPath } from '../support/node-red-package';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';

const root = path.resolve(__dirname, '../..');

export interface Emission {
  label: string;
  id: string;
  /** Which Node-RED process (0 = first, 1 = after the first restart, …). */
  generation: number;
  at: number;
}

/** A function node that prints one REC line per msg. */
export function recorder(id: string, label: string, z: string): Record<string, unknown> {
  const func = `const id = String(msg.messageId || '').replace(/[^A-Za-z0-9@.-]/g, '');\nnode.log('REC ${label} ' + id);\nreturn null;`;
  return { id, z, type: 'function', name: `rec-${label}`, func, outputs: 0, x: 400, y: 100, wires: [] };
}

export class RecordedNodeRed {
  readonly emissions: Emission[] = [];
  /** Called for every emission (after it was recorded). */
  onEmission?: (emission: Emission) => void;
  private proc?: NodeRedProcess;
  private generation = -1;
  private expectingExit = false;
  /** Exits nobody asked for (a crash). */
  readonly unexpectedExits: string[] = [];

  private constructor(readonly userDir: string) {}

  static async start(): Promise<RecordedNodeRed> {
    const userDir = mkdtempSync(path.join(os.tmpdir(), 'm365-faults-nr-'));
    mkdirSync(path.join(userDir, 'node_modules', '@m365-mail'), { recursive: true });
    symlinkSync(root, path.join(userDir, 'node_modules', '@m365-mail', 'node-red-m365-mail'), 'dir');
    const red = new RecordedNodeRed(userDir);
    await red.launch();
    return red;
  }

  get url(): string {
    return this.proc?.url ?? '';
  }

  log(): string {
    return this.proc?.log() ?? '';
  }

  private async launch(): Promise<void> {
    this.generation++;
    const generation = this.generation;
    // The port of the first run is kept, so the URL stays the same.
    const proc = await startNodeRed({ userDir: this.userDir, launcher: nodeRedLauncherPath(), port: this.proc?.port });
    this.proc = proc;
    let pending = '';
    proc.child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const match = / REC (\S+) (\S+)\s*$/.exec(line);
        if (!match) continue;
        const emission = { label: match[1], id: match[2], generation, at: Date.now() };
        this.emissions.push(emission);
        this.onEmission?.(emission);
      }
    });
    proc.child.once('exit', (code, signal) => {
      if (!this.expectingExit) this.unexpectedExits.push(`generation ${generation}: exit ${code} ${signal ?? ''}\n${proc.log().slice(-3000)}`);
    });
  }

  /** Full deploy of `nodes` (credentials inside the nodes, as the editor sends them). */
  async deploy(nodes: unknown[]): Promise<void> {
    const response = await fetch(`${this.url}/flows`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(nodes),
    });
    if (response.status !== 204 && response.status !== 200) throw new Error(`deploy failed: ${response.status} ${await response.text()}`);
  }

  /** SIGKILL, then start again on the same user directory (flows, credentials, checkpoints). */
  async killAndRestart(): Promise<void> {
    this.expectingExit = true;
    await this.proc?.stop('SIGKILL');
    this.expectingExit = false;
    await this.launch();
  }

  async stop(): Promise<void> {
    this.expectingExit = true;
    await this.proc?.stop('SIGINT');
    rmSync(this.userDir, { recursive: true, force: true });
  }
}
