/**
 * Local identity server of the test bed: an HTTPS server speaking enough of the Microsoft identity
 * platform v2.0 protocol for the real @azure/msal-node 7.2 to work against it.
 *
 * What MSAL 7.2.1 needs (each point is pinned by a test in test/unit/identity/):
 * - `auth.authority = `${server.url}/${tenant}`` with tenant = GUID, verified domain, `common`,
 *   `organizations` or `consumers`.
 * - `auth.knownAuthorities = [server.hostPort]` ('127.0.0.1:PORT'). This alone keeps MSAL from
 *   calling https://login.microsoftonline.com/common/discovery/instance (without it every
 *   acquire fails with `endpoints_resolution_error`). msal-node has no `instanceDiscovery: false`
 *   option; `authorityMetadata` / `cloudDiscoveryMetadata` are not needed.
 * - MSAL then GETs `${authority}/v2.0/.well-known/openid-configuration` (once per app instance)
 *   and accepts the issuer because its host equals the authority host. For a domain authority the
 *   document carries GUID endpoints (as Entra's does) and MSAL maps them back to the domain.
 * - The process must trust the test CA through NODE_EXTRA_CA_CERTS at start (MSAL uses fetch).
 * Behaviour of MSAL the code under test must expect (also true against Entra):
 * - Unknown tenant: discovery answers 400 AADSTS90002; MSAL reports only ClientAuthError
 *   `endpoints_resolution_error`, without the AADSTS text.
 * - Client credentials on common/organizations/consumers: MSAL refuses before any request
 *   (`missing_tenant_id_error`); the server's AADSTS9001023 is only seen by raw clients.
 * - Device code: MSAL polls with `grant_type=device_code` (not the RFC 8628 URN) and reports
 *   polling errors as `post_request_failed` whose message is just the OAuth error
 *   ("authorization_declined", "invalid_client", "invalid_grant"); the AADSTS code is lost.
 *   Errors of the /devicecode call itself are not checked by MSAL at all.
 * - Token errors arrive as ServerError (or InteractionRequiredAuthError for suberror
 *   basic_action / consent_required) with `errorCode` = OAuth error, `errorNo` = AADSTS number,
 *   `errorMessage` containing the full error_description, `status` = HTTP status.
 * - 429/5xx with Retry-After: MSAL caches the failure and rejects identical requests without a
 *   network call until Retry-After has passed.
 * - acquireTokenSilent refreshes when the access token expires within 300 s, so any
 *   tokenLifetimeSec below that makes every silent call a refresh.
 *
 * Nothing is logged unless a `log` callback is given, and then only method, path and status:
 * never a token, code or secret.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ensureTestCa } from '../ca';
import { resolveAuthority } from './authority';
import { createStats, type IdentityContext, type IdentityFaults, type IdentitySettings, type IdentityStats } from './context';
import { APPS, CONSUMERS_TENANT_ID, CONTOSO, createDefaultDirectory, type Directory } from './directory';
import { EntraError, errorBody, Errors } from './errors';
import {
  approveDeviceCode, authorizeGet, authorizePost, declineDeviceCode, deviceLoginGet, deviceLoginPost, type PageResult,
} from './interactive';
import { introspect, type IntrospectionService } from './introspection';
import type { JwtPayload } from './jwt';
import { handleDeviceCodeRequest, handleTokenRequest } from './token-endpoint';
import { TokenIssuer } from './tokens';

/** Where Dovecot's oauth2 passdbs ask, per service; the mailbox follows (URI-encoded). */
export const INTROSPECTION_PATHS: Record<IntrospectionService, string> = {
  mail: '/_dovecot/introspect/',
  smtp: '/_dovecot/introspect-smtp/',
};

export interface IdentityServerOptions {
  tls: { cert: string; key: string };
  host?: string;
  port?: number;
  /** Access token lifetime; default 3600. Settable later via `server.tokenLifetimeSec`. */
  tokenLifetimeSec?: number;
  /** Device code polling interval handed to clients; default 1 s (Entra: 5). */
  deviceCodeIntervalSec?: number;
  /** Device code lifetime; default 900 s like Entra. */
  deviceCodeLifetimeSec?: number;
  /** Defaults to `createDefaultDirectory()`. */
  directory?: Directory;
  /** Receives one line per request (method, path, status). Never tokens or secrets. */
  log?: (line: string) => void;
}

export interface IdentityServer extends IdentitySettings {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT, for MSAL `knownAuthorities`. */
  readonly hostPort: string;
  readonly directory: Directory;
  readonly stats: IdentityStats;
  readonly faults: IdentityFaults;
  /** Test hook: the user `upn` approved the device code (as on /devicelogin). */
  approveDeviceCode(userCode: string, upn: string): void;
  /** Test hook: the user pressed Cancel on /devicelogin. */
  declineDeviceCode(userCode: string): void;
  /**
   * Signs any claims as an access token of this server; given claims override the defaults.
   * Defaults: a delegated IMAP+POP token for https://outlook.office.com from publicApp, for the
   * user named by `upn` (default alice; oid/tid/name filled from the directory), valid
   * `tokenLifetimeSec`. With `roles` and no `scp` it is app-only (oid = the `appid`'s service principal).
   */
  mintAccessToken(claims?: JwtPayload): string;
  /** Stops the server and drops open connections. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 256 * 1024;
const TENANT_PATH = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys|discovery\/keys|oauth2\/v2\.0\/(?:token|devicecode|authorize|logout))$/;

class IdentityServerImpl implements IdentityServer {
  readonly directory: Directory;
  readonly stats = createStats();
  readonly faults: IdentityFaults = { fail500Count: 0, rateLimit: { count: 0, retryAfterSec: 1 }, delayMs: 0 };
  tokenLifetimeSec: number;
  refreshTokenLifetimeSec = 90 * 86_400;
  deviceCodeLifetimeSec: number;
  deviceCodeIntervalSec: number;
  url = '';
  hostPort = '';
  private readonly ctx: IdentityContext;
  private readonly issuer: TokenIssuer;

  constructor(private readonly server: Server, options: IdentityServerOptions) {
    this.directory = options.directory ?? createDefaultDirectory();
    this.tokenLifetimeSec = options.tokenLifetimeSec ?? 3600;
    this.deviceCodeIntervalSec = options.deviceCodeIntervalSec ?? 1;
    this.deviceCodeLifetimeSec = options.deviceCodeLifetimeSec ?? 900;
    this.issuer = new TokenIssuer(() => this.url);
    const self = this;
    this.ctx = {
      get baseUrl() { return self.url; },
      directory: this.directory,
      issuer: this.issuer,
      settings: this,
      stats: this.stats,
      faults: this.faults,
      codes: new Map(),
      deviceCodes: new Map(),
      refreshTokens: new Map(),
      transactions: new Map(),
    };
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res, options.log).catch((err: unknown) => {
        // Last resort; handlers answer their own errors. Only the error text is logged.
        options.log?.(`internal error: ${err instanceof Error ? err.message : String(err)}`);
        if (!res.headersSent) sendJson(res, 500, errorBody(Errors.transient(), this.url));
        else res.destroy();
      });
    });
  }

  approveDeviceCode(userCode: string, upn: string): void {
    approveDeviceCode(this.ctx, userCode, upn);
  }

  declineDeviceCode(userCode: string): void {
    declineDeviceCode(this.ctx, userCode);
  }

  mintAccessToken(claims: JwtPayload = {}): string {
    const iat = Math.floor(Date.now() / 1000);
    const appId = typeof claims.appid === 'string' ? claims.appid : APPS.publicApp.clientId;
    const appOnly = claims.roles !== undefined && claims.scp === undefined;
    let defaults: JwtPayload;
    if (appOnly) {
      const servicePrincipalId = this.directory.findApp(appId)?.servicePrincipalId;
      defaults = { tid: CONTOSO.tenantId, idtyp: 'app', ...(servicePrincipalId ? { oid: servicePrincipalId, sub: servicePrincipalId } : {}) };
    } else {
      const upn = typeof claims.upn === 'string' ? claims.upn
        : typeof claims.preferred_username === 'string' ? claims.preferred_username : 'alice@contoso.com';
      const user = this.directory.findUser(upn);
      defaults = user ? {
        tid: user.tenantId, oid: user.oid, sub: user.oid, upn: user.upn, preferred_username: user.upn, name: user.displayName,
        scp: 'IMAP.AccessAsUser.All POP.AccessAsUser.All', idtyp: 'user',
      } : { tid: CONTOSO.tenantId, upn, preferred_username: upn, scp: 'IMAP.AccessAsUser.All POP.AccessAsUser.All' };
    }
    const tid = typeof claims.tid === 'string' ? claims.tid : String(defaults.tid);
    return this.issuer.sign({
      aud: 'https://outlook.office.com',
      iss: this.issuer.issuer(tid),
      iat, nbf: iat, exp: iat + this.tokenLifetimeSec,
      appid: appId,
      azp: appId,
      ver: '2.0',
      ...defaults,
      ...claims,
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse, log?: (line: string) => void): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    res.on('finish', () => log?.(`${req.method} ${url.pathname} ${res.statusCode}`));
    const correlationId = firstHeader(req.headers['client-request-id']) ?? url.searchParams.get('client-request-id') ?? undefined;
    try {
      await this.route(req, res, url);
    } catch (err) {
      if (!(err instanceof EntraError)) throw err;
      if (err.status === 429) res.setHeader('Retry-After', String(this.faults.rateLimit.retryAfterSec));
      sendJson(res, err.status, errorBody(err, this.url, correlationId));
    }
  }

  /**
   * GET  /{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/discovery/v2.0/keys,
   *      /common/discovery/instance, /{tenant}/oauth2/v2.0/authorize (sign-in form), /devicelogin
   * POST /{tenant}/oauth2/v2.0/token, /{tenant}/oauth2/v2.0/devicecode, /{tenant}/oauth2/v2.0/authorize,
   *      /devicelogin, /_dovecot/introspect/{mailbox} (also GET with Authorization or ?token=),
   *      /_dovecot/introspect-smtp/{mailbox} (the same for SMTP submission logins)
   */
  private async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (path === '/common/discovery/instance' && method === 'GET') {
      return sendJson(res, 200, this.instanceDiscovery(url.searchParams.get('authorization_endpoint')));
    }
    if (path === '/devicelogin') {
      return sendPage(res, method === 'POST' ? deviceLoginPost(this.ctx, await readForm(req)) : deviceLoginGet(url.searchParams));
    }
    if (path.startsWith(INTROSPECTION_PATHS.mail)) return this.introspection(req, res, url, method, 'mail');
    if (path.startsWith(INTROSPECTION_PATHS.smtp)) return this.introspection(req, res, url, method, 'smtp');
    const match = TENANT_PATH.exec(path);
    if (!match) throw Errors.notFound(path);
    const tenant = decodeURIComponent(match[1]);
    switch (match[2]) {
      case 'v2.0/.well-known/openid-configuration':
        return sendJson(res, 200, this.openIdConfiguration(tenant));
      case 'discovery/v2.0/keys':
      case 'discovery/keys':
        return sendJson(res, 200, this.issuer.jwks());
      case 'oauth2/v2.0/authorize':
        if (method !== 'POST') this.recordScope('authorize', url.searchParams);
        return sendPage(res, method === 'POST' ? authorizePost(this.ctx, await readForm(req)) : authorizeGet(this.ctx, tenant, url.searchParams));
      case 'oauth2/v2.0/logout': {
        const target = url.searchParams.get('post_logout_redirect_uri');
        return sendPage(res, target ? { redirect: target } : { status: 200, html: '<!DOCTYPE html><p id="result">You signed out of your account.</p>' });
      }
      case 'oauth2/v2.0/token': {
        if (method !== 'POST') throw Errors.methodNotAllowed();
        const params = await readForm(req);
        this.countTokenRequest(params);
        await this.applyFaults();
        return sendJson(res, 200, handleTokenRequest(this.ctx, tenant, params, req.headers.authorization), true);
      }
      case 'oauth2/v2.0/devicecode': {
        if (method !== 'POST') throw Errors.methodNotAllowed();
        const params = await readForm(req);
        this.stats.deviceCodeRequests++;
        this.recordScope('devicecode', params);
        await this.applyFaults();
        return sendJson(res, 200, handleDeviceCodeRequest(this.ctx, tenant, params), true);
      }
    }
  }

  private recordScope(endpoint: 'token' | 'devicecode' | 'authorize', params: URLSearchParams): void {
    const scope = params.get('scope');
    if (scope !== null) this.stats.requestedScopes.push({ endpoint, scope });
  }

  private countTokenRequest(params: URLSearchParams): void {
    this.stats.tokenRequests++;
    this.recordScope('token', params);
    const grant = params.get('grant_type') ?? '(none)';
    const client = params.get('client_id') ?? '(none)';
    this.stats.byGrant[grant] = (this.stats.byGrant[grant] ?? 0) + 1;
    this.stats.byClient[client] = (this.stats.byClient[client] ?? 0) + 1;
  }

  private async applyFaults(): Promise<void> {
    if (this.faults.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.faults.delayMs));
    if (this.faults.fail500Count > 0) {
      this.faults.fail500Count--;
      throw Errors.transient();
    }
    if (this.faults.rateLimit.count > 0) {
      this.faults.rateLimit.count--;
      throw Errors.throttled();
    }
  }

  /** The discovery document, shaped like Entra's for the same kind of tenant path. */
  private openIdConfiguration(segment: string): Record<string, unknown> {
    const authority = resolveAuthority(this.directory, segment, 'invalid_tenant');
    const base = this.url;
    // Entra answers a domain with GUID endpoints; common/organizations/consumers keep their name.
    const pathTenant = authority.kind === 'tenant' ? authority.tenantId : authority.kind;
    const issuerTenant = authority.kind === 'tenant' ? authority.tenantId
      : authority.kind === 'consumers' ? CONSUMERS_TENANT_ID : '{tenantid}';
    return {
      token_endpoint: `${base}/${pathTenant}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/${pathTenant}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/${issuerTenant}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
      authorization_endpoint: `${base}/${pathTenant}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/${pathTenant}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/${pathTenant}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
      tenant_region_scope: authority.kind === 'tenant' ? 'EU' : null,
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    };
  }

  /** Instance discovery response (MSAL skips it when the host is in knownAuthorities). */
  private instanceDiscovery(authorizationEndpoint: string | null): Record<string, unknown> {
    let tenant = 'common';
    try {
      if (authorizationEndpoint) tenant = new URL(authorizationEndpoint).pathname.split('/')[1] || 'common';
    } catch {
      // keep common
    }
    return {
      tenant_discovery_endpoint: `${this.url}/${tenant}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: this.hostPort, preferred_cache: this.hostPort, aliases: [this.hostPort] }],
    };
  }

  private async introspection(req: IncomingMessage, res: ServerResponse, url: URL, method: string,
    service: IntrospectionService): Promise<void> {
    const mailbox = decodeURIComponent(url.pathname.slice(INTROSPECTION_PATHS[service].length));
    const form = method === 'POST' ? await readForm(req) : new URLSearchParams();
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const token = form.get('token') ?? bearer ?? url.searchParams.get('token') ?? url.searchParams.get('access_token') ?? '';
    this.stats.introspections++;
    sendJson(res, 200, introspect(this.ctx, token.trim(), mailbox, service), true);
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    this.hostPort = `${host}:${address.port}`;
    this.url = `https://${this.hostPort}`;
  }
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Reads an application/x-www-form-urlencoded body (bounded). */
async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new EntraError(413, 'invalid_request', 90011, 'Request body is too large.');
    chunks.push(buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendJson(res: ServerResponse, status: number, body: unknown, noStore = false): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  if (noStore) {
    res.setHeader('Cache-Control', 'no-store, no-cache');
    res.setHeader('Pragma', 'no-cache');
  }
  res.end(text);
}

function sendPage(res: ServerResponse, page: PageResult): void {
  if ('redirect' in page) {
    res.statusCode = 302;
    res.setHeader('Location', page.redirect);
    res.setHeader('Cache-Control', 'no-store');
    res.end();
    return;
  }
  res.statusCode = page.status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(page.html);
}

/** Starts the identity server; resolves once it listens (port 0 = any free port). */
export async function startIdentityServer(options: IdentityServerOptions): Promise<IdentityServer> {
  const server = createServer({ cert: options.tls.cert, key: options.tls.key });
  // Clients (Dovecot's introspection, MSAL) reuse connections. A short keep-alive makes the server
  // close an idle connection just as a client sends on it, which Dovecot reports as "Temporary
  // authentication failure"; close() ends every connection anyway.
  server.keepAliveTimeout = 5 * 60_000;
  const identity = new IdentityServerImpl(server, options);
  await identity.listen(options.host ?? '127.0.0.1', options.port ?? 0);
  return identity;
}

// `tsx test/env/identity/server.ts` runs a server by hand (port from IDENTITY_PORT, default any).
if (require.main === module) {
  const ca = ensureTestCa();
  startIdentityServer({ tls: { cert: ca.serverCertPem, key: ca.serverKeyPem }, port: Number(process.env.IDENTITY_PORT ?? 0) })
    .then((server) => process.stdout.write(`identity server at ${server.url} (knownAuthorities: ${server.hostPort})\n`))
    .catch((err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    });
}
