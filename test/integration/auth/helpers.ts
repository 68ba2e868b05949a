/**
 * Shared pieces of the auth integration tests: the identity server with the test CA, account
 * configs for its custom cloud, providers disposed after each test, the M365MailError a promise
 * rejects with, a counting CONNECT proxy and a programmatic browser sign-in.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureTestCa } from '../../env/ca';
import { startIdentityServer, type IdentityServer, type IdentityServerOptions } from '../../env/identity/server';
import type { AccountConfig } from '../../../src/auth/account-config';
import { M365MailError } from '../../../src/core/errors';

export async function startTestIdentityServer(options: Partial<IdentityServerOptions> = {}): Promise<IdentityServer> {
  if (!process.env.NODE_EXTRA_CA_CERTS) {
    throw new Error('Run with NODE_EXTRA_CA_CERTS=$(npx tsx test/env/ca.ts) so Node trusts the test CA');
  }
  const ca = ensureTestCa();
  return startIdentityServer({ tls: { cert: ca.serverCertPem, key: ca.serverKeyPem }, ...options });
}

/** An m365-account on the identity server's custom cloud. */
export function customAccount(server: IdentityServer, overrides: Partial<AccountConfig>): AccountConfig {
  return { cloud: 'custom', authorityHost: server.url, tenant: '', clientId: '', authType: 'client-secret', ...overrides };
}

/**
 * Registers an afterEach in the current describe that disposes every provider passed to the
 * returned `track` during the test (MSAL clients hold timers and sockets).
 */
export function disposeAfterEach(): <T extends { dispose(): void }>(provider: T) => T {
  const tracked: Array<{ dispose(): void }> = [];
  afterEach(function () {
    for (const provider of tracked.splice(0)) provider.dispose();
  });
  return (provider) => {
    tracked.push(provider);
    return provider;
  };
}

/** The M365MailError `promise` rejects with; fails the test if it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<M365MailError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof M365MailError, `expected M365MailError, got ${String(err)}`);
    return err;
  }
  throw new Error('expected a rejection');
}

/** Claims of a JWT, unverified. */
export function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
}

export interface TestCertificate {
  certPem: string;
  privateKeyPem: string;
}

/** A throw-away self-signed certificate made with the openssl CLI. */
export function makeCertificate(commonName: string): TestCertificate {
  const dir = mkdtempSync(path.join(tmpdir(), 'auth-cert-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem',
      '-days', '2', '-subj', `/CN=${commonName}`], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    return { certPem: readFileSync(path.join(dir, 'cert.pem'), 'utf8'), privateKeyPem: readFileSync(path.join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface CountingProxy {
  url: string;
  /** host:port of every CONNECT, in order. */
  tunnels: string[];
  /** Proxy-Authorization headers seen. */
  authorizations: string[];
  close(): Promise<void>;
}

/** A minimal HTTP CONNECT proxy on 127.0.0.1 that counts tunnels; optional Basic auth. */
export async function startCountingProxy(requiredAuth?: { user: string; password: string }): Promise<CountingProxy> {
  const tunnels: string[] = [];
  const authorizations: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => { res.statusCode = 405; res.end(); });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on('error', () => client.destroy());
    client.on('close', () => sockets.delete(client));
    const auth = req.headers['proxy-authorization'];
    if (auth) authorizations.push(auth);
    if (requiredAuth) {
      const expected = `Basic ${Buffer.from(`${requiredAuth.user}:${requiredAuth.password}`).toString('base64')}`;
      if (auth !== expected) {
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
        return;
      }
    }
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(/:(?=\d+$)/);
    if (host !== '127.0.0.1' && host !== 'localhost') {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n'); // never leave the machine
      return;
    }
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => { sockets.delete(upstream); client.destroy(); });
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    authorizations,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Plays the user in the browser: opens the sign-in URL, posts the password, returns the redirect's query. */
export async function signInInBrowser(authUrl: string, upn: string, password: string): Promise<URLSearchParams> {
  const page = await fetch(authUrl, { redirect: 'manual' });
  const html = await page.text();
  const transaction = /name="ctx"[^>]*value="([^"]*)"/.exec(html)?.[1];
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1];
  if (!transaction || !action) throw new Error(`no sign-in form (HTTP ${page.status})`);
  const posted = await fetch(new URL(action.replace(/&amp;/g, '&'), authUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ctx: transaction, username: upn, password }).toString(),
  });
  const location = posted.headers.get('location');
  if (!location) throw new Error(`no redirect after sign-in (HTTP ${posted.status})`);
  return new URL(location).searchParams;
}
