/**
 * POST /{tenant}/oauth2/v2.0/token and /devicecode: the grants MSAL uses (client_credentials,
 * authorization_code with PKCE, refresh_token, device_code, and password for completeness), with
 * Entra's checks in Entra's order as far as it matters to a client.
 */
import { createHash, randomInt } from 'node:crypto';
import {
  authenticateClient, clientCredentialInput, findAppForAuthority, resolveAuthority, tenantName, userSignInError,
} from './authority';
import type { AuthorityTenant, IdentityContext } from './context';
import type { App, User } from './directory';
import { EntraError, Errors } from './errors';
import { canonicalDelegatedScopes, parseScopes, responseScope, type ScopeRequest } from './scopes';
import { clientInfo, opaqueHandle, type ClientAuthMethod } from './tokens';

export type TokenResponse = Record<string, string | number>;

interface TokenRequest {
  ctx: IdentityContext;
  authority: AuthorityTenant;
  params: URLSearchParams;
  authorization: string | undefined;
}

/** Handles a token request; resolves to the JSON body or throws an EntraError. */
export function handleTokenRequest(ctx: IdentityContext, tenantSegment: string, params: URLSearchParams,
  authorization: string | undefined): TokenResponse {
  const authority = resolveAuthority(ctx.directory, tenantSegment);
  const grant = params.get('grant_type');
  if (!grant) throw Errors.missingParameter('grant_type');
  const request: TokenRequest = { ctx, authority, params, authorization };
  switch (grant) {
    case 'client_credentials': return clientCredentialsGrant(request);
    case 'authorization_code': return authorizationCodeGrant(request);
    case 'refresh_token': return refreshTokenGrant(request);
    // RFC 8628 name, and the short name MSAL actually sends; Entra accepts both.
    case 'urn:ietf:params:oauth:grant-type:device_code':
    case 'device_code': return deviceCodeGrant(request);
    case 'password': return passwordGrant(request);
    default: throw Errors.unsupportedGrant(grant);
  }
}

/** Finds the app and authenticates it; a request without credential needs "Allow public client flows" (7000218). */
function authenticateDelegatedClient(request: TokenRequest): { app: App; clientAuth: ClientAuthMethod } {
  const app = findAppForAuthority(request.ctx.directory, request.authority, request.params.get('client_id') ?? undefined);
  const clientAuth = authenticateClient(request.ctx, app, request.authority,
    clientCredentialInput(request.params, request.authorization));
  if (clientAuth === 'none' && !app.allowPublicClientFlows) throw Errors.credentialRequired();
  return { app, clientAuth };
}

function clientCredentialsGrant(request: TokenRequest): TokenResponse {
  const { ctx, authority, params } = request;
  if (authority.kind !== 'tenant' || authority.consumers) throw Errors.tenantlessGrant();
  const app = findAppForAuthority(ctx.directory, authority, params.get('client_id') ?? undefined);
  const clientAuth = authenticateClient(ctx, app, authority, clientCredentialInput(params, request.authorization));
  if (clientAuth === 'none') throw Errors.credentialRequiredForClientCredentials();
  const scopes = parseScopes(params.get('scope') ?? undefined, tenantName(authority));
  if (!scopes.isDefault) throw Errors.clientCredentialsScope(scopes.raw);
  const roles = [...(app.roles.get(scopes.resourceKey) ?? [])];
  const lifetime = ctx.settings.tokenLifetimeSec;
  return {
    token_type: 'Bearer',
    expires_in: lifetime,
    ext_expires_in: lifetime,
    access_token: ctx.issuer.appAccessToken({
      app, tenantId: authority.tenantId, resourceUri: scopes.resourceUri, roles, lifetimeSec: lifetime, clientAuth,
    }),
  };
}

function authorizationCodeGrant(request: TokenRequest): TokenResponse {
  const { ctx, params } = request;
  const { app, clientAuth } = authenticateDelegatedClient(request);
  const code = params.get('code');
  if (!code) throw Errors.missingParameter('code');
  const entry = ctx.codes.get(code);
  if (!entry) throw Errors.codeInvalid();
  if (entry.clientId !== app.clientId) throw Errors.grantOtherClient();
  if (entry.redeemed) throw Errors.codeRedeemed();
  if (entry.expiresAtMs <= Date.now()) throw Errors.codeExpired();
  const redirectUri = params.get('redirect_uri') ?? '';
  if (redirectUri !== entry.redirectUri) throw Errors.redirectMismatchOnRedeem(redirectUri);
  if (entry.codeChallenge) {
    const verifier = params.get('code_verifier');
    if (!verifier) throw Errors.pkceMissing();
    const computed = entry.codeChallengeMethod === 'plain'
      ? verifier : createHash('sha256').update(verifier).digest('base64url');
    if (computed !== entry.codeChallenge) throw Errors.pkceMismatch();
  }
  entry.redeemed = true;
  const user = requireUser(ctx, entry.userOid);
  return issueDelegatedTokens(ctx, {
    app, user, authority: request.authority, scope: params.get('scope') ?? entry.scope, clientAuth, mfa: entry.mfa,
    nonce: entry.nonce, wantClientInfo: params.get('client_info') === '1',
  });
}

function refreshTokenGrant(request: TokenRequest): TokenResponse {
  const { ctx, params } = request;
  const { app, clientAuth } = authenticateDelegatedClient(request);
  const token = params.get('refresh_token');
  if (!token) throw Errors.missingParameter('refresh_token');
  const entry = ctx.refreshTokens.get(token);
  if (!entry) throw Errors.refreshTokenUnknown();
  if (entry.clientId !== app.clientId) throw Errors.grantOtherClient();
  const now = Date.now();
  if (entry.lastUsedMs + ctx.settings.refreshTokenLifetimeSec * 1000 <= now) {
    throw Errors.refreshTokenExpired(new Date(entry.issuedAtMs).toISOString());
  }
  const user = requireUser(ctx, entry.userOid);
  if (user.refreshTokensValidFromMs > entry.issuedAtMs) throw Errors.refreshTokenRevoked();
  const signInError = userSignInError(request.authority, app, user);
  if (signInError) throw signInError;
  entry.lastUsedMs = now;
  return issueDelegatedTokens(ctx, {
    app, user, authority: request.authority, scope: params.get('scope') ?? '', clientAuth, mfa: entry.mfa,
    wantClientInfo: params.get('client_info') === '1', issuedAtMs: entry.issuedAtMs,
  });
}

function deviceCodeGrant(request: TokenRequest): TokenResponse {
  const { ctx, params } = request;
  const { app, clientAuth } = authenticateDelegatedClient(request);
  const deviceCode = params.get('device_code');
  if (!deviceCode) throw Errors.missingParameter('device_code');
  const entry = ctx.deviceCodes.get(deviceCode);
  if (!entry || entry.clientId !== app.clientId || entry.state === 'redeemed') throw Errors.deviceCodeInvalid();
  if (entry.expiresAtMs <= Date.now()) throw Errors.deviceCodeExpired();
  switch (entry.state) {
    case 'pending': throw Errors.authorizationPending();
    case 'declined': throw Errors.authorizationDeclined();
    case 'failed': throw entry.error ?? Errors.authorizationDeclined();
    case 'approved': break;
  }
  entry.state = 'redeemed';
  const user = requireUser(ctx, entry.userOid ?? '');
  return issueDelegatedTokens(ctx, {
    app, user, authority: request.authority, scope: params.get('scope') ?? entry.scope, clientAuth, mfa: entry.mfa ?? false,
    wantClientInfo: params.get('client_info') === '1',
  });
}

/** ROPC; kept because it is the simplest way to meet AADSTS50076 and 50126. */
function passwordGrant(request: TokenRequest): TokenResponse {
  const { ctx, params } = request;
  const { app, clientAuth } = authenticateDelegatedClient(request);
  const username = params.get('username');
  if (!username) throw Errors.missingParameter('username');
  const user = ctx.directory.findUser(username);
  if (!user || user.password !== params.get('password')) throw Errors.badCredentials();
  const signInError = userSignInError(request.authority, app, user);
  if (signInError) throw signInError;
  return issueDelegatedTokens(ctx, {
    app, user, authority: request.authority, scope: params.get('scope') ?? '', clientAuth, mfa: false,
    wantClientInfo: params.get('client_info') === '1',
  });
}

function requireUser(ctx: IdentityContext, oid: string): User {
  const user = ctx.directory.findUserByOid(oid);
  if (!user) throw Errors.refreshTokenRevoked();
  return user;
}

/**
 * The delegated scopes the app may get for this request: all of them consented (tenant-wide), or
 * AADSTS65001. `.default` means every consented scope of the resource.
 */
export function grantedDelegatedScopes(app: App, scopes: ScopeRequest): string[] {
  const requested = canonicalDelegatedScopes(scopes);
  const consented = app.consents.get(scopes.resourceKey) ?? new Set<string>();
  if (scopes.isDefault) {
    const all = [...consented].filter((s) => s !== 'offline_access');
    if (all.length === 0) throw Errors.consentRequired(app.clientId, app.displayName);
    return all;
  }
  if (requested.length === 0) {
    // Only OpenID scopes: the app still needs some consent to sign users in.
    if (app.consents.size === 0) throw Errors.consentRequired(app.clientId, app.displayName);
    return [];
  }
  for (const scope of requested) {
    if (!consented.has(scope)) throw Errors.consentRequired(app.clientId, app.displayName);
  }
  return requested;
}

/** Checks that `scope` can be issued to `app` for a user sign-in (used by the authorize page). */
export function checkDelegatedRequest(app: App, authority: AuthorityTenant, scope: string): EntraError | undefined {
  try {
    grantedDelegatedScopes(app, parseScopes(scope, tenantName(authority)));
    return undefined;
  } catch (err) {
    if (err instanceof EntraError) return err;
    throw err;
  }
}

interface DelegatedIssue {
  app: App;
  user: User;
  authority: AuthorityTenant;
  scope: string;
  clientAuth: ClientAuthMethod;
  mfa: boolean;
  nonce?: string;
  wantClientInfo: boolean;
  /** Keeps the family's original issue time across rotations, so revocation covers rotated tokens. */
  issuedAtMs?: number;
}

/** Access token + ID token + client_info + rotated refresh token, as Entra answers a user grant. */
function issueDelegatedTokens(ctx: IdentityContext, issue: DelegatedIssue): TokenResponse {
  const scopes = parseScopes(issue.scope, tenantName(issue.authority));
  const granted = grantedDelegatedScopes(issue.app, scopes);
  if (issue.user.mfaRequired && !issue.mfa) {
    throw Errors.mfaRequired(scopes.resourceKey === 'exchange' ? '00000002-0000-0ff1-ce00-000000000000' : '00000003-0000-0000-c000-000000000000');
  }
  const lifetime = ctx.settings.tokenLifetimeSec;
  const scp = granted.length > 0 ? granted : ['openid', 'profile', 'email'].filter((s) => scopes.oidc.has(s));
  const body: TokenResponse = {
    token_type: 'Bearer',
    scope: responseScope(scopes, granted),
    expires_in: lifetime,
    ext_expires_in: lifetime,
    access_token: ctx.issuer.delegatedAccessToken({
      user: issue.user, app: issue.app, resourceUri: scopes.resourceUri, scopes: scp, lifetimeSec: lifetime,
      clientAuth: issue.clientAuth, mfa: issue.mfa,
    }),
  };
  if (scopes.oidc.has('offline_access')) {
    const refreshToken = opaqueHandle('rt', 96);
    const now = Date.now();
    ctx.refreshTokens.set(refreshToken, {
      clientId: issue.app.clientId, userOid: issue.user.oid, issuedAtMs: issue.issuedAtMs ?? now, lastUsedMs: now, mfa: issue.mfa,
    });
    body.refresh_token = refreshToken;
  }
  if (scopes.oidc.has('openid')) {
    body.id_token = ctx.issuer.idToken({ user: issue.user, app: issue.app, nonce: issue.nonce, lifetimeSec: lifetime });
  }
  if (issue.wantClientInfo) body.client_info = clientInfo(issue.user);
  return body;
}

/** POST /{tenant}/oauth2/v2.0/devicecode. */
export function handleDeviceCodeRequest(ctx: IdentityContext, tenantSegment: string, params: URLSearchParams): TokenResponse {
  const authority = resolveAuthority(ctx.directory, tenantSegment);
  const app = findAppForAuthority(ctx.directory, authority, params.get('client_id') ?? undefined);
  const scope = params.get('scope') ?? '';
  canonicalDelegatedScopes(parseScopes(scope, tenantName(authority)));
  const deviceCode = opaqueHandle('dc', 64);
  const userCode = newUserCode(ctx);
  const lifetime = ctx.settings.deviceCodeLifetimeSec;
  ctx.deviceCodes.set(deviceCode, {
    deviceCode, userCode, clientId: app.clientId, authority, scope, expiresAtMs: Date.now() + lifetime * 1000, state: 'pending',
  });
  const verificationUri = `${ctx.baseUrl}/devicelogin`;
  return {
    user_code: userCode,
    device_code: deviceCode,
    verification_uri: verificationUri,
    expires_in: lifetime,
    interval: ctx.settings.deviceCodeIntervalSec,
    message: `To sign in, use a web browser to open the page ${verificationUri} and enter the code ${userCode} to authenticate.`,
  };
}

/** Nine characters from an alphabet without look-alikes, like Entra's user codes. */
function newUserCode(ctx: IdentityContext): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  for (;;) {
    let code = '';
    for (let i = 0; i < 9; i++) code += alphabet[randomInt(alphabet.length)];
    if (![...ctx.deviceCodes.values()].some((e) => e.userCode === code)) return code;
  }
}
