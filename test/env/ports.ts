/**
 * Network helpers for the test bed: pick free ports and wait until a server greets.
 * Everything stays on 127.0.0.0/8.
 */
import net from 'node:net';
import tls from 'node:tls';

/** Asks the kernel for a free TCP port on `host` by binding port 0 and closing again. */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error(`no port on ${host}`))));
    });
  });
}

/** Finds `count` distinct free ports on `host`. */
export async function findFreePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await findFreePort(host));
  return [...ports];
}

export interface GreetingProbe {
  host: string;
  port: number;
  /** Implicit TLS with this CA (PEM); plain TCP when absent. */
  caPem?: string;
  /** The greeting counts once a received line matches. */
  expect: RegExp;
}

/**
 * Connects once and resolves with the greeting line when it matches `probe.expect`; rejects on
 * refusal, on a different first meaningful line, or after `timeoutMs`.
 */
export function readGreeting(probe: GreetingProbe, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: net.Socket = probe.caPem
      ? tls.connect({ host: probe.host, port: probe.port, ca: probe.caPem })
      : net.connect({ host: probe.host, port: probe.port });
    let buffered = '';
    const timer = setTimeout(() => finish(new Error(`no greeting from ${probe.host}:${probe.port}`)), timeoutMs);
    let settled = false;
    function finish(error: Error | null, line?: string): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.on('error', () => undefined);
      socket.destroy();
      if (error) reject(error);
      else resolve(line ?? '');
    }
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(`connection to ${probe.host}:${probe.port} closed before greeting`)));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).replace(/\r$/, '');
        buffered = buffered.slice(newline + 1);
        if (probe.expect.test(line)) return finish(null, line);
        // Dovecot sends "* OK Waiting for authentication process to respond.." while auth starts.
      }
    });
  });
}

/**
 * Polls until the server greets as expected, every `intervalMs`; gives up after `timeoutMs` or
 * as soon as `abort()` returns an error (e.g. the server process died).
 */
export async function waitForGreeting(
  probe: GreetingProbe,
  options: { timeoutMs?: number; intervalMs?: number; abort?: () => Error | undefined } = {},
): Promise<string> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const intervalMs = options.intervalMs ?? 20;
  let lastError: unknown;
  for (;;) {
    const aborted = options.abort?.();
    if (aborted) throw aborted;
    try {
      return await readGreeting(probe, Math.max(100, deadline - Date.now()));
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`${probe.host}:${probe.port} did not greet in time: ${String(lastError)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
