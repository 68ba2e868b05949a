import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { DelayProxy } from '../../../bench/delay-proxy';

/** A server whose accepted sockets the test drives; half-open allowed, like the IMAP servers. */
async function startServer(): Promise<{ server: net.Server; port: number; next(): Promise<net.Socket> }> {
  const accepted: net.Socket[] = [];
  const waiting: Array<(socket: net.Socket) => void> = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    const waiter = waiting.shift();
    if (waiter) waiter(socket);
    else accepted.push(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    next: () => new Promise((resolve) => {
      const ready = accepted.shift();
      if (ready) resolve(ready);
      else waiting.push(resolve);
    }),
  };
}

async function connect(proxy: DelayProxy): Promise<net.Socket> {
  const socket = net.connect({ host: proxy.host, port: proxy.port, allowHalfOpen: true });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

/** Collects what `socket` receives until `bytes` arrived; resolves with it and the time of the last chunk. */
function receive(socket: net.Socket, bytes: number): Promise<{ data: Buffer; at: number }> {
  const chunks: Buffer[] = [];
  let length = 0;
  return new Promise((resolve) => {
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= bytes) {
        socket.off('data', onData);
        resolve({ data: Buffer.concat(chunks), at: performance.now() });
      }
    };
    socket.on('data', onData);
  });
}

/** Deterministic bytes, different at every offset within a period of 251 (a prime). */
function pattern(length: number, seed: number): Buffer {
  const buffer = Buffer.alloc(length);
  for (let i = 0; i < length; i++) buffer[i] = (i * 7 + seed) % 251;
  return buffer;
}

describe('bench delay proxy', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  const proxies: DelayProxy[] = [];
  const sockets: net.Socket[] = [];
  const start = async (delayMs: number): Promise<DelayProxy> => {
    const proxy = await DelayProxy.start({ targetHost: '127.0.0.1', targetPort: server.port, delayMs });
    proxies.push(proxy);
    return proxy;
  };

  /** A proxy with `delayMs` each way, a client connected through it, and the server's side of that connection. */
  const link = async (delayMs: number): Promise<{ proxy: DelayProxy; client: net.Socket; upstream: net.Socket }> => {
    const proxy = await start(delayMs);
    const client = await connect(proxy);
    sockets.push(client);
    const upstream = await server.next();
    sockets.push(upstream);
    return { proxy, client, upstream };
  };

  beforeEach(async () => {
    server = await startServer();
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    server.server.close();
  });

  it('relays many chunks of both directions whole and in order, also with a delay', async () => {
    for (const delayMs of [0, 5]) {
      const { proxy, client, upstream } = await link(delayMs);
      const up = pattern(300_000, 1);
      const down = pattern(500_000, 2);
      const gotUp = receive(upstream, up.length);
      const gotDown = receive(client, down.length);
      // Chunks of odd sizes, written in separate turns of the event loop.
      for (let offset = 0, size = 1; offset < up.length; offset += size, size = (size * 3 + 1) % 9000 + 1) {
        client.write(up.subarray(offset, offset + size));
        upstream.write(down.subarray(offset, Math.min(offset + size, up.length)));
        if (size % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      upstream.write(down.subarray(up.length));
      assert.ok((await gotUp).data.equals(up), `client → server at ${delayMs} ms`);
      assert.ok((await gotDown).data.equals(down), `server → client at ${delayMs} ms`);
      assert.equal(proxy.links[0].bytes['to-server'], up.length);
      assert.equal(proxy.links[0].bytes['to-client'], down.length);
    }
  });

  it('holds every chunk for the delay in each direction, so a round trip costs twice the delay', async () => {
    const delayMs = 30;
    const { proxy, client, upstream } = await link(delayMs);
    upstream.on('data', (chunk: Buffer) => upstream.write(chunk)); // echo
    for (let i = 0; i < 3; i++) {
      const sentAt = performance.now();
      const echoed = receive(client, 5);
      client.write(`ping${i}`);
      const { data, at } = await echoed;
      assert.equal(data.toString(), `ping${i}`);
      // A lower bound only: the relay never passes a chunk on before its time.
      assert.ok(at - sentAt >= 2 * delayMs, `round trip ${at - sentAt} ms < ${2 * delayMs} ms`);
    }
  });

  it('counts the flights of each side: the round trips the client waited for', async () => {
    const { proxy, client, upstream } = await link(1);
    // greeting, then three exchanges: the client speaks three times, the server four.
    const reply = async (text: string): Promise<void> => {
      const got = receive(client, text.length);
      upstream.write(text);
      await got;
    };
    await reply('* OK\r\n');
    for (const command of ['a CAPABILITY\r\n', 'b LOGIN\r\n', 'c SELECT\r\n']) {
      const got = receive(upstream, command.length);
      client.write(command);
      await got;
      await reply('x OK\r\n');
    }
    assert.equal(proxy.links[0].flights['to-server'], 3);
    assert.equal(proxy.links[0].flights['to-client'], 4);
  });

  it('pauses the sender while the receiver does not read, and loses nothing when it reads again', async () => {
    const { proxy, client, upstream } = await link(2);
    upstream.pause();
    const total = 64 * 1024 * 1024;
    const data = pattern(total, 3);
    client.write(data);
    // The sockets' buffers fill up until the relay's write to the server says stop.
    while (proxy.links[0].pauses['to-server'] === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(proxy.links[0].bytes['to-server'] < total, 'the relay stopped reading before everything was sent');
    const got = receive(upstream, total);
    upstream.resume();
    assert.ok((await got).data.equals(data));
    assert.equal(proxy.links[0].bytes['to-server'], total);
  });

  it('keeps reading the sender while the window has room, though the receiver does not read', async () => {
    const { proxy, client, upstream } = await link(2);
    upstream.pause();
    const data = pattern(1024 * 1024, 4);
    client.write(data);
    while (proxy.links[0].bytes['to-server'] < data.length) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(proxy.links[0].pauses['to-server'], 0, 'a megabyte fits the 4 MiB window');
    const got = receive(upstream, data.length);
    upstream.resume();
    assert.ok((await got).data.equals(data));
  });

  it('passes a half-close on after the data before it, and the other side can still answer', async () => {
    const { proxy, client, upstream } = await link(10);
    const serverGot = receive(upstream, 5);
    const serverEnded = once(upstream, 'end');
    client.end('bye\r\n');
    assert.equal((await serverGot).data.toString(), 'bye\r\n');
    await serverEnded;
    const clientGot = receive(client, 7);
    const clientEnded = once(client, 'end');
    upstream.end('later\r\n');
    assert.equal((await clientGot).data.toString(), 'later\r\n');
    await clientEnded;
    await once(client, 'close');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(proxy.links[0].closedAt, 'both relayed sockets closed');
  });

  it('drops the client when the server resets the connection', async () => {
    const { client, upstream } = await link(5);
    const error = once(client, 'error');
    upstream.resetAndDestroy();
    const [reason] = await error as [NodeJS.ErrnoException];
    assert.equal(reason.code, 'ECONNRESET');
  });
});
