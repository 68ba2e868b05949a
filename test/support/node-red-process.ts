/**
 * A real Node-RED process for end-to-end tests: its own user directory, a settings file, a port
 * chosen at start, the log captured, and a clean stop. Used for the packed-package load test,
 * the demo and the browser tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface NodeRedProcessOptions {
  userDir: string;
  /** Path of Node-RED's red.js. */
  launcher: string;
  /** Node binary to run it with (defaults to this process's). */
  nodeBinary?: string;
  port?: number;
  /** Extra settings merged into settings.js (JSON-serialisable). */
  settings?: Record<string, unknown>;
  /** JavaScript appended to settings.js, for settings JSON cannot hold (functions). */
  settingsCode?: string;
  env?: NodeJS.ProcessEnv;
  /** Flow file content to start with. */
  flows?: unknown[];
  credentialSecret?: string;
  nodeArgs?: string[];
}

export interface NodeRedProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the process printed so far. */
  log(): string;
  /**
   * Resolves when the log (from character `since` on, default all of it) matches; rejects after
   * timeoutMs or when the process exits.
   */
  waitForLog(pattern: RegExp, timeoutMs?: number, since?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Finds a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

export async function startNodeRed(options: NodeRedProcessOptions): Promise<NodeRedProcess> {
  const port = options.port ?? (await freePort());
  mkdirSync(options.userDir, { recursive: true });
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: port,
    flowFile: 'flows.json',
    credentialSecret: options.credentialSecret ?? 'test-credential-secret',
    logging: { console: { level: 'info', metrics: false, audit: false } },
    ...options.settings,
  };
  writeFileSync(path.join(options.userDir, 'settings.js'), `module.exports = ${JSON.stringify(settings, null, 2)};\n${options.settingsCode ?? ''}\n`);
  if (options.flows) writeFileSync(path.join(options.userDir, 'flows.json'), JSON.stringify(options.flows, null, 2));

  const child = spawn(options.nodeBinary ?? process.execPath, [...(options.nodeArgs ?? []), options.launcher, '--userDir', options.userDir, '--port', String(port)], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    for (const check of waiters) check();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const waitForLog = (pattern: RegExp, timeoutMs = 30000, since = 0): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const match = output.slice(since).match(pattern);
        if (match) {
          finish();
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`Node-RED log did not match ${pattern} within ${timeoutMs} ms. Log:\n${output}`));
      }, timeoutMs);
      const onExit = (): void => {
        finish();
        reject(new Error(`Node-RED exited before its log matched ${pattern}. Log:\n${output}`));
      };
      const finish = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', onExit);
      };
      waiters.add(check);
      child.once('exit', onExit);
      check();
    });

  const handle: NodeRedProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    log: () => output,
    waitForLog,
    async stop(signal: NodeJS.Signals = 'SIGINT') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  await waitForLog(/Server now running at/, 60000);
  return handle;
}
