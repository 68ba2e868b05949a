/**
 * The user-facing side: the authorize endpoint (sign-in form → redirect with a code) and the
 * device login page (user code → approve or decline), plus the programmatic approvals unit
 * tests use. A sign-in here performs MFA when the user's policy requires it at that moment; a
 * policy switched on later makes the refresh tokens of that sign-in fail with AADSTS50076.
 */
import { findAppForAuthority, resolveAuthority, tenantName, userSignInError } from './authority';
import type { AuthorityTenant, DeviceCodeEntry, IdentityContext } from './context';
import type { App, User } from './directory';
import { EntraError, errorBody, Errors } from './errors';
import { deviceLoginPage, resultPage, signInPage } from './pages';
import { parseScopes } from './scopes';
import { checkDelegatedRequest } from './token-endpoint';
import { opaqueHandle } from './tokens';

export type PageResult = { status: number; html: string } | { redirect: string };

const TEN_MINUTES_MS = 600_000;

function errorPage(err: EntraError, ctx: IdentityContext): PageResult {
  return { status: 400, html: resultPage("Sorry, but we're having trouble signing you in.", errorBody(err, ctx.baseUrl).error_description, true) };
}

function withParams(base: string, params: Record<string, string | undefined>): string {
  const url = new URL(base);
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value);
  return url.toString();
}

/** Redirect carrying an OAuth error, as Entra sends once the redirect URI is trusted. */
function errorRedirect(ctx: IdentityContext, redirectUri: string, err: EntraError, state?: string): PageResult {
  const body = errorBody(err, ctx.baseUrl);
  const error = err.suberror === 'consent_required' ? 'consent_required' : err.error;
  return { redirect: withParams(redirectUri, { error, error_description: body.error_description, error_uri: body.error_uri, state }) };
}

/** Exact registered URIs, or any http loopback URI when the app accepts those (desktop apps). */
export function redirectAllowed(app: App, uri: string): boolean {
  if (app.redirectUris.includes(uri)) return true;
  if (!app.acceptLoopbackRedirects) return false;
  try {
    const url = new URL(uri);
    return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost');
  } catch {
    return false;
  }
}

/** GET /{tenant}/oauth2/v2.0/authorize: validates the request and shows the sign-in form. */
export function authorizeGet(ctx: IdentityContext, tenantSegment: string, query: URLSearchParams): PageResult {
  let authority: AuthorityTenant;
  let app: App;
  try {
    authority = resolveAuthority(ctx.directory, tenantSegment);
    app = findAppForAuthority(ctx.directory, authority, query.get('client_id') ?? undefined);
  } catch (err) {
    if (err instanceof EntraError) return errorPage(err, ctx);
    throw err;
  }
  const redirectUri = query.get('redirect_uri') ?? '';
  if (!redirectAllowed(app, redirectUri)) return errorPage(Errors.redirectNotRegistered(redirectUri, app.clientId), ctx);
  const state = query.get('state') ?? undefined;
  const responseType = query.get('response_type') ?? '';
  if (responseType !== 'code') return errorRedirect(ctx, redirectUri, Errors.unsupportedResponseType(responseType), state);
  const scope = query.get('scope') ?? '';
  try {
    parseScopes(scope, tenantName(authority));
  } catch (err) {
    if (err instanceof EntraError) return errorRedirect(ctx, redirectUri, err, state);
    throw err;
  }
  const codeChallenge = query.get('code_challenge') ?? undefined;
  const codeChallengeMethod = codeChallenge ? (query.get('code_challenge_method') ?? 'plain') : undefined;
  if (codeChallengeMethod && codeChallengeMethod !== 'S256' && codeChallengeMethod !== 'plain') {
    return errorRedirect(ctx, redirectUri, new EntraError(400, 'invalid_request', 501491,
      `Invalid size of Code_Challenge parameter or unsupported code_challenge_method '${codeChallengeMethod}'.`), state);
  }
  const transactionId = opaqueHandle('tx', 24);
  ctx.transactions.set(transactionId, {
    authority, clientId: app.clientId, redirectUri, state, scope, codeChallenge, codeChallengeMethod,
    nonce: query.get('nonce') ?? undefined, loginHint: query.get('login_hint') ?? undefined,
    expiresAtMs: Date.now() + TEN_MINUTES_MS,
  });
  return {
    status: 200,
    html: signInPage({
      action: `/${encodeURIComponent(tenantSegment)}/oauth2/v2.0/authorize`, transactionId, appName: app.displayName,
      loginHint: query.get('login_hint') ?? undefined,
    }),
  };
}

/** POST of the sign-in form: checks the password, then redirects with a code (or an OAuth error). */
export function authorizePost(ctx: IdentityContext, form: URLSearchParams): PageResult {
  const transactionId = form.get('ctx') ?? '';
  const tx = ctx.transactions.get(transactionId);
  if (!tx || tx.expiresAtMs <= Date.now()) {
    return { status: 400, html: resultPage('Sign-in session expired', 'Start the sign-in again from the application.', true) };
  }
  const app = ctx.directory.findApp(tx.clientId);
  if (!app) return errorPage(Errors.appNotFound(tx.clientId, tenantName(tx.authority)), ctx);
  const rerender = (error: string): PageResult => ({
    status: 200,
    html: signInPage({
      action: `/${encodeURIComponent(tx.authority.segment)}/oauth2/v2.0/authorize`, transactionId, appName: app.displayName,
      loginHint: form.get('username') ?? tx.loginHint, error,
    }),
  });
  const user = checkPassword(ctx, form);
  if (!user) return rerender("Your account or password is incorrect. (AADSTS50126)");
  const signInError = userSignInError(tx.authority, app, user);
  if (signInError) return rerender(`AADSTS${signInError.code}: ${signInError.text}`);
  ctx.transactions.delete(transactionId);
  const consentError = checkDelegatedRequest(app, tx.authority, tx.scope);
  if (consentError) return errorRedirect(ctx, tx.redirectUri, consentError, tx.state);
  const code = opaqueHandle('code', 64);
  ctx.codes.set(code, {
    clientId: app.clientId, userOid: user.oid, scope: tx.scope, redirectUri: tx.redirectUri,
    codeChallenge: tx.codeChallenge, codeChallengeMethod: tx.codeChallengeMethod, nonce: tx.nonce,
    expiresAtMs: Date.now() + TEN_MINUTES_MS, redeemed: false, mfa: user.mfaRequired,
  });
  return { redirect: withParams(tx.redirectUri, { code, state: tx.state, session_state: opaqueHandle('ss', 12) }) };
}

function checkPassword(ctx: IdentityContext, form: URLSearchParams): User | undefined {
  const user = ctx.directory.findUser(form.get('username') ?? '');
  return user && user.password === form.get('password') ? user : undefined;
}

function findByUserCode(ctx: IdentityContext, userCode: string): DeviceCodeEntry | undefined {
  const wanted = userCode.replace(/[\s-]/g, '').toUpperCase();
  for (const entry of ctx.deviceCodes.values()) if (entry.userCode === wanted) return entry;
  return undefined;
}

/**
 * Marks a device code approved by `user`. A sign-in error (wrong tenant, disabled account) is
 * returned and leaves the code pending; missing consent ends the flow: polling then gets 65001.
 */
function approve(ctx: IdentityContext, entry: DeviceCodeEntry, user: User): EntraError | undefined {
  const app = ctx.directory.findApp(entry.clientId);
  if (!app) return Errors.appNotFound(entry.clientId, tenantName(entry.authority));
  const signInError = userSignInError(entry.authority, app, user);
  if (signInError) return signInError;
  entry.userOid = user.oid;
  entry.mfa = user.mfaRequired;
  const consentError = checkDelegatedRequest(app, entry.authority, entry.scope);
  if (consentError) {
    entry.state = 'failed';
    entry.error = consentError;
    return consentError;
  }
  entry.state = 'approved';
  return undefined;
}

/** GET /devicelogin. */
export function deviceLoginGet(query: URLSearchParams): PageResult {
  return { status: 200, html: deviceLoginPage({ userCode: query.get('otc') ?? undefined }) };
}

/** POST /devicelogin: Continue approves with the given credentials, Cancel declines. */
export function deviceLoginPost(ctx: IdentityContext, form: URLSearchParams): PageResult {
  const userCode = form.get('otc') ?? '';
  const username = form.get('username') ?? undefined;
  const rerender = (error: string): PageResult => ({ status: 200, html: deviceLoginPage({ userCode, username, error }) });
  const entry = findByUserCode(ctx, userCode);
  if (!entry || entry.state !== 'pending') return rerender("That code didn't work. Check the code and try again.");
  if (entry.expiresAtMs <= Date.now()) return rerender('That code has expired. Go back to your device and request a new code.');
  if (form.get('action') === 'cancel') {
    entry.state = 'declined';
    return { status: 200, html: resultPage('Sign-in canceled', 'You declined to sign in to the application on your device. You may now close this window.') };
  }
  const user = checkPassword(ctx, form);
  if (!user) return rerender('Your account or password is incorrect. (AADSTS50126)');
  const error = approve(ctx, entry, user);
  if (error && entry.state === 'pending') return rerender(`AADSTS${error.code}: ${error.text}`);
  if (error) return { status: 200, html: resultPage('Need admin approval', `AADSTS${error.code}: ${error.text}`, true) };
  const appName = ctx.directory.findApp(entry.clientId)?.displayName ?? entry.clientId;
  return {
    status: 200,
    html: resultPage('Signed in', `You have signed in to the ${appName} application on your device. You may now close this window.`),
  };
}

/** Test hook: approves a device code as `upn` without the page. Throws for unknown codes/users or sign-in errors. */
export function approveDeviceCode(ctx: IdentityContext, userCode: string, upn: string): void {
  const entry = findByUserCode(ctx, userCode);
  if (!entry) throw new Error(`Unknown device user code ${userCode}`);
  const user = ctx.directory.findUser(upn);
  if (!user) throw new Error(`Unknown user ${upn}`);
  const error = approve(ctx, entry, user);
  if (error && entry.state === 'pending') throw new Error(`AADSTS${error.code}: ${error.text}`);
}

/** Test hook: the user pressed Cancel on the device login page. */
export function declineDeviceCode(ctx: IdentityContext, userCode: string): void {
  const entry = findByUserCode(ctx, userCode);
  if (!entry) throw new Error(`Unknown device user code ${userCode}`);
  entry.state = 'declined';
}
