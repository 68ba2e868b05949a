/**
 * Shared pieces of the m365-account runtime tests: the admin app of node-red-node-test-helper served
 * on a real loopback port (the auth-code redirect needs a URL), the user's side of device code and
 * browser sign-in, polling without fixed sleeps, and a record of every secret the identity server
 * handed out (for the tests that grep logs for them).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { USER_PASSWORD } from '../../env/identity/directory';
import type { IdentityServer } from '../../env/identity/server';
import type { TestBed } from '../../env/testbed';
import { helper } from '../../support/helper';

/** Resolves when `probe` returns a value other than undefined/false; polls every `everyMs`, fails after `timeoutMs`. */
export async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export interface AdminServer {
  /** http://127.0.0.1:PORT, the origin the editor would send. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the helper's admin app (RED.httpAdmin of the flow loaded last) on 127.0.0.1. helper.url()
 * serves an empty app, and the sign-in page must redirect the browser back to a real address.
 */
export async function serveAdminApp(): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const admin = (helper as unknown as { _httpAdmin?: http.RequestListener })._httpAdmin;
    if (admin) admin(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** JSON POST against an admin URL. */
export async function postJson(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: safeJson(text), text };
}

export async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const response = await fetch(url);
  const text = await response.text();
  return { status: response.status, body: safeJson(text), text };
}

function safeJson(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** The user on the /devicelogin page: enters the code and their credentials, presses Continue. */
export async function approveOnDeviceLoginPage(verificationUri: string, userCode: string, upn: string): Promise<string> {
  const response = await fetch(verificationUri, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ otc: userCode, username: upn, password: USER_PASSWORD, action: 'continue' }).toString(),
  });
  return response.text();
}

/** The user in the browser: opens the sign-in URL, posts the form; returns where the browser is sent next. */
export async function signInOnAuthorizePage(authUrl: string, upn: string): Promise<URL> {
  const page = await fetch(authUrl, { redirect: 'manual' });
  const html = await page.text();
  const transaction = /name="ctx"[^>]*value="([^"]*)"/.exec(html)?.[1];
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1];
  if (!transaction || !action) throw new Error(`no sign-in form (HTTP ${page.status}): ${html.slice(0, 300)}`);
  const posted = await fetch(new URL(action.replace(/&amp;/g, '&'), authUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ctx: transaction, username: upn, password: USER_PASSWORD }).toString(),
  });
  const location = posted.headers.get('location');
  if (!location) throw new Error(`no redirect after sign-in (HTTP ${posted.status})`);
  return new URL(location);
}

export interface IssuedSecrets {
  /** Every JWT the identity server signed (access and ID tokens). */
  tokens: string[];
  /** Every refresh token it issued. */
  refreshTokens: string[];
  stop(): void;
}

interface IdentityInternals {
  issuer: { sign(claims: unknown): string };
  ctx: { refreshTokens: Map<string, unknown> };
}

/**
 * Records every token the identity server issues from now on, by wrapping its signer and its
 * refresh-token store (test-bed internals: the server itself never logs or exposes them).
 */
export function recordIssuedSecrets(identity: IdentityServer): IssuedSecrets {
  const internals = identity as unknown as IdentityInternals;
  const tokens: string[] = [];
  const refreshTokens: string[] = [];
  const issuer = internals.issuer;
  const store = internals.ctx.refreshTokens;
  const sign = issuer.sign;
  const set = store.set;
  issuer.sign = function (this: unknown, claims: unknown): string {
    const token = sign.call(issuer, claims);
    tokens.push(token);
    return token;
  };
  store.set = function (key: string, value: unknown) {
    refreshTokens.push(key);
    return set.call(store, key, value);
  };
  return {
    tokens,
    refreshTokens,
    stop() {
      issuer.sign = sign;
      store.set = set;
    },
  };
}

/**
 * recordIssuedSecrets() for the whole describe that calls it: recording starts before its first
 * test (after the hooks registered earlier, so after the bed started) and stops after its last.
 */
export function useIssuedSecrets(bed: TestBed): Pick<IssuedSecrets, 'tokens' | 'refreshTokens'> {
  let recording: IssuedSecrets | undefined;
  before(function () {
    recording = recordIssuedSecrets(bed.identity);
  });
  after(function () {
    recording?.stop();
  });
  const recorded = (): IssuedSecrets => {
    if (!recording) throw new Error('issued secrets are recorded only inside the describe that called useIssuedSecrets()');
    return recording;
  };
  return {
    get tokens() { return recorded().tokens; },
    get refreshTokens() { return recorded().refreshTokens; },
  };
}

/** The distinctive parts of a secret worth searching for (a JWT's signature, a PEM's body lines). */
export function needlesOf(secret: string): string[] {
  if (secret.includes('-----BEGIN')) {
    return secret.split('\n').map((l) => l.trim()).filter((l) => l.length >= 40 && !l.startsWith('-----'));
  }
  const parts = secret.split('.');
  if (parts.length === 3) return [secret, parts[2]];
  return [secret];
}

/** Each needle found in `haystack`, with a little context, for a readable assertion message. */
export function leaksIn(haystack: string, secrets: Record<string, string[]>): string[] {
  const found: string[] = [];
  for (const [label, values] of Object.entries(secrets)) {
    for (const value of values) {
      for (const needle of needlesOf(value)) {
        const at = haystack.indexOf(needle);
        // The context is shown with long base64-like runs masked, so a failure does not print secrets.
        if (at >= 0) found.push(`${label} after "…${haystack.slice(Math.max(0, at - 60), at).replace(/[A-Za-z0-9+/_.~-]{16,}/g, '***')}"`);
      }
    }
  }
  return found;
}

/** helper.setFlows (a full redeploy of the loaded runtime); the helper's typings lack it. */
export function redeploy(flow: unknown[], credentials: Record<string, unknown>): Promise<void> {
  return (helper as unknown as { setFlows(flow: unknown[], type: string, credentials: Record<string, unknown>): Promise<void> })
    .setFlows(flow, 'full', credentials);
}

interface SpyCall {
  thisValue: unknown;
  args: unknown[];
}

/**
 * First arguments of `node.status(...)` / `node.error(...)` calls made by this node. The helper's
 * spies sit on Node.prototype, so `node.status.args` holds the calls of every node.
 */
export function callsOf(node: object, method: 'status' | 'error' | 'warn' | 'send'): unknown[] {
  const spy = (node as Record<string, unknown>)[method] as { getCalls?: () => SpyCall[] } | undefined;
  return (spy?.getCalls?.() ?? []).filter((call) => call.thisValue === node).map((call) => call.args[0]);
}

/** The node's last status text (an i18n key such as common.status.watching), if any. */
export function lastStatus(node: object): string | undefined {
  const calls = callsOf(node, 'status');
  const last = calls[calls.length - 1] as { text?: string } | undefined;
  return last?.text;
}
