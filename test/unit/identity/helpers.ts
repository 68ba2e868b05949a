/**
 * Shared helpers of the identity server tests: start a server with the test CA, the MSAL
 * configuration that works against it, form posts and small parsers.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AuthError, LogLevel, type Configuration } from '@azure/msal-node';
import { ensureTestCa } from '../../env/ca';
import { startIdentityServer, type IdentityServer, type IdentityServerOptions } from '../../env/identity/server';

/** Starts an identity server on 127.0.0.1 with the test bed's server certificate. */
export async function startTestIdentityServer(options: Partial<IdentityServerOptions> = {}): Promise<IdentityServer> {
  if (!process.env.NODE_EXTRA_CA_CERTS) {
    throw new Error('Run with NODE_EXTRA_CA_CERTS=$(npx tsx test/env/ca.ts) so Node trusts the test CA');
  }
  const ca = ensureTestCa();
  return startIdentityServer({ tls: { cert: ca.serverCertPem, key: ca.serverKeyPem }, ...options });
}

/** The MSAL configuration that works against the server: authority on the server + knownAuthorities. */
export function msalConfig(server: IdentityServer, tenant: string, clientId: string,
  credentials: Partial<Configuration['auth']> = {}): Configuration {
  return {
    auth: { clientId, authority: `${server.url}/${tenant}`, knownAuthorities: [server.hostPort], ...credentials },
    system: { loggerOptions: { loggerCallback: () => undefined, piiLoggingEnabled: false, logLevel: LogLevel.Error } },
  };
}

/** POSTs an urlencoded form without following redirects. */
export function postForm(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POSTs to /{tenant}/oauth2/v2.0/{endpoint} and parses the JSON answer. */
export async function rawPost(server: IdentityServer, tenant: string, endpoint: 'token' | 'devicecode',
  fields: Record<string, string>): Promise<RawResponse> {
  const res = await postForm(`${server.url}/${tenant}/oauth2/v2.0/${endpoint}`, fields);
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** Value of a hidden (or any) input field in an HTML page. */
export function inputValue(html: string, name: string): string {
  const match = new RegExp(`name="${name}"[^>]*value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`No input ${name} in page`);
  return match[1].replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}

/** The `action` of the first form in a page. */
export function formAction(html: string): string {
  const match = /<form[^>]*action="([^"]*)"/.exec(html);
  if (!match) throw new Error('No form in page');
  return match[1];
}

/** Claims of a JWT, unverified (tests only read what the server put there). */
export function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
}

export interface TestCertificate {
  certPem: string;
  privateKeyPem: string;
  cleanup(): void;
}

/** A throw-away self-signed certificate made with openssl in a temp dir. */
export function makeCertificate(commonName: string): TestCertificate {
  const dir = mkdtempSync(path.join(tmpdir(), 'identity-cert-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem',
      '-days', '2', '-subj', `/CN=${commonName}`], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    return {
      certPem: readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
      privateKeyPem: readFileSync(path.join(dir, 'key.pem'), 'utf8'),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** What MSAL rejects with: AuthError, plus the server's numeric code and HTTP status for ServerError. */
export type MsalFailure = AuthError & { errorNo?: number | string; status?: number };

/** Awaits an MSAL call that must fail; returns the AuthError for assertions. */
export async function msalRejection(promise: Promise<unknown>): Promise<MsalFailure> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AuthError) return err as MsalFailure;
    throw err;
  }
  throw new Error('expected the MSAL call to fail');
}
