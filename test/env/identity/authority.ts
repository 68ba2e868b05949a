/**
 * Who is asking, in which tenant: resolves the tenant path segment, finds the app as Entra would
 * for that authority, checks a user may sign in there, and authenticates the client (secret,
 * certificate assertion, or none for public clients).
 */
import { timingSafeEqual } from 'node:crypto';
import type { AuthorityTenant, IdentityContext } from './context';
import { CONSUMERS_TENANT_ID, type App, type Directory, type User } from './directory';
import { EntraError, Errors } from './errors';
import { decodeJwt, verifySignature } from './jwt';
import type { ClientAuthMethod } from './tokens';

const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const CLOCK_SKEW_SEC = 300;

/** Resolves `common`, `organizations`, `consumers`, a tenant GUID or a verified domain; throws 90002. */
export function resolveAuthority(directory: Directory, segment: string, error = 'invalid_request'): AuthorityTenant {
  const lower = segment.toLowerCase();
  if (lower === 'common' || lower === 'organizations' || lower === 'consumers') return { kind: lower, segment };
  const tenant = directory.findTenant(lower);
  if (!tenant) throw Errors.tenantNotFound(segment, error);
  return {
    kind: 'tenant', segment, tenantId: tenant.tenantId, displayName: tenant.displayName,
    consumers: tenant.tenantId === CONSUMERS_TENANT_ID,
  };
}

/** The name Entra puts in messages about a tenant. */
export function tenantName(authority: AuthorityTenant): string {
  return authority.kind === 'tenant' ? authority.displayName : authority.segment;
}

/** True for /consumers and the consumers tenant GUID. */
function isConsumersAuthority(authority: AuthorityTenant): boolean {
  return authority.kind === 'consumers' || (authority.kind === 'tenant' && authority.consumers);
}

/** Finds the app as seen through `authority`; throws 900144, 700016 or 50194. */
export function findAppForAuthority(directory: Directory, authority: AuthorityTenant, clientId: string | undefined): App {
  if (!clientId) throw Errors.missingParameter('client_id');
  const app = directory.findApp(clientId);
  const notFound = (): EntraError => Errors.appNotFound(clientId, tenantName(authority));
  if (!app) throw notFound();
  if (isConsumersAuthority(authority)) {
    if (app.signInAudience !== 'AzureADandPersonalMicrosoftAccount') throw notFound();
  } else if (authority.kind === 'tenant') {
    if (app.signInAudience === 'AzureADMyOrg' && authority.tenantId !== app.homeTenantId) throw notFound();
  } else if (app.signInAudience === 'AzureADMyOrg') {
    throw Errors.singleTenantOnCommon(app.clientId, app.displayName);
  }
  return app;
}

/** Returns the error that keeps `user` from signing in to `app` through `authority`, if any. */
export function userSignInError(authority: AuthorityTenant, app: App, user: User): EntraError | undefined {
  if (!user.canSignIn) {
    return new EntraError(400, 'invalid_grant', 50057, 'The user account is disabled.');
  }
  const isConsumer = user.tenantId === CONSUMERS_TENANT_ID;
  const name = tenantName(authority);
  if (isConsumersAuthority(authority) && !isConsumer) return Errors.userNotInTenant(user.upn, name);
  if (authority.kind === 'tenant' && !authority.consumers && user.tenantId !== authority.tenantId) {
    return Errors.userNotInTenant(user.upn, name);
  }
  if (authority.kind === 'organizations' && isConsumer) return Errors.userNotInTenant(user.upn, name);
  if (isConsumer && app.signInAudience !== 'AzureADandPersonalMicrosoftAccount') return Errors.userNotInTenant(user.upn, name);
  if (app.signInAudience === 'AzureADMyOrg' && user.tenantId !== app.homeTenantId) return Errors.userNotInTenant(user.upn, name);
  return undefined;
}

export interface ClientCredentialInput {
  clientSecret?: string;
  clientAssertion?: string;
  clientAssertionType?: string;
}

/** Reads client_secret (body or HTTP Basic) and client_assertion from a token request. */
export function clientCredentialInput(params: URLSearchParams, authorization: string | undefined): ClientCredentialInput {
  let clientSecret = params.get('client_secret') ?? undefined;
  if (!clientSecret && authorization?.startsWith('Basic ')) {
    const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) clientSecret = decodeURIComponent(decoded.slice(colon + 1));
  }
  return {
    clientSecret,
    clientAssertion: params.get('client_assertion') ?? undefined,
    clientAssertionType: params.get('client_assertion_type') ?? undefined,
  };
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Authenticates the client of a token request. Returns 'none' when no credential was sent (the
 * grant decides whether that is allowed); throws 7000215, 7000222, 700025, 700027, 700023, 700021, 700024.
 */
export function authenticateClient(
  ctx: IdentityContext, app: App, authority: AuthorityTenant, input: ClientCredentialInput,
): ClientAuthMethod {
  if (!input.clientSecret && !input.clientAssertion) return 'none';
  if (app.allowPublicClientFlows && app.secrets.length === 0 && app.certificates.length === 0) {
    throw Errors.publicClientWithCredential();
  }
  if (input.clientSecret) {
    const match = app.secrets.find((s) => sameSecret(s.value, input.clientSecret ?? ''));
    if (!match) throw Errors.invalidSecret(app.clientId);
    if (match.expiresAtMs <= Date.now()) throw Errors.expiredSecret(app.clientId);
    return 'secret';
  }
  verifyClientAssertion(ctx, app, authority, input);
  return 'certificate';
}

function verifyClientAssertion(ctx: IdentityContext, app: App, authority: AuthorityTenant, input: ClientCredentialInput): void {
  if (input.clientAssertionType !== CLIENT_ASSERTION_TYPE) throw Errors.assertionType();
  const jwt = decodeJwt(input.clientAssertion ?? '');
  if (!jwt) throw Errors.assertionMalformed();
  const x5tS256 = typeof jwt.header['x5t#S256'] === 'string' ? jwt.header['x5t#S256'] : undefined;
  const x5t = typeof jwt.header.x5t === 'string' ? jwt.header.x5t : undefined;
  const cert = app.certificates.find((c) => (x5tS256 !== undefined && c.x5tS256 === x5tS256) || (x5t !== undefined && c.x5t === x5t));
  if (!cert) {
    const thumbprint = Buffer.from(x5tS256 ?? x5t ?? '', 'base64url').toString('hex').toUpperCase();
    throw Errors.assertionKeyNotFound(thumbprint, app.clientId);
  }
  if (!verifySignature(jwt, cert.publicKey)) throw Errors.assertionBadSignature(app.clientId);
  if (cert.notAfterMs <= Date.now()) throw Errors.assertionCertificateExpired(app.clientId);
  const { iss, sub, aud, exp, nbf } = jwt.payload;
  if (iss !== app.clientId || sub !== app.clientId) throw Errors.assertionIssuer();
  const now = Math.floor(Date.now() / 1000);
  if (typeof exp !== 'number' || exp < now - CLOCK_SKEW_SEC) throw Errors.assertionLifetime();
  if (typeof nbf === 'number' && nbf > now + CLOCK_SKEW_SEC) throw Errors.assertionLifetime();
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.some((a) => typeof a === 'string' && isOwnAudience(ctx, authority, a))) throw Errors.assertionAudience();
}

/**
 * Entra accepts the token endpoint (by tenant GUID or domain) or the issuer as the assertion's `aud`;
 * MSAL sends the token endpoint of the configured authority.
 */
function isOwnAudience(ctx: IdentityContext, authority: AuthorityTenant, aud: string): boolean {
  let url: URL;
  try {
    url = new URL(aud);
  } catch {
    return false;
  }
  if (url.origin !== ctx.baseUrl) return false;
  const match = /^\/([^/]+)\/(?:oauth2\/v2\.0\/token|v2\.0)\/?$/.exec(url.pathname);
  if (!match) return false;
  const segment = decodeURIComponent(match[1]).toLowerCase();
  if (segment === authority.segment.toLowerCase()) return true;
  return authority.kind === 'tenant' && ctx.directory.findTenant(segment)?.tenantId === authority.tenantId;
}
