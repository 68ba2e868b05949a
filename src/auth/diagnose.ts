/**
 * Turns what MSAL, the identity platform and the mail servers say into M365MailErrors that tell
 * the user what to change. The AADSTS texts are long and generic; the fixes here name the exact
 * place in the Entra admin center. Mail server refusals are catalogued in ./server-refusals and
 * transport failures in ./transport-errors, shared with the IMAP and POP3 code.
 */
import { M365MailError, type ErrorKind } from '../core/errors';
import type { MailProtocol } from './token-source';
import { diagnoseServerRefusal } from '../core/server-refusals';
import { errorFromTransport } from '../core/transport-errors';

export { errorFromTransport } from '../core/transport-errors';

/** What the caller knows around the failure; all optional, used to make fix texts concrete. */
export interface DiagnoseContext {
  clientId?: string;
  tenant?: string;
  /** Last HTTP status seen from the identity server for this request. */
  httpStatus?: number;
  /** Retry-After of the last identity server response, in ms. */
  retryAfterMs?: number;
  /** The transport failure behind an MSAL network/endpoint error, when the network client saw one. */
  transportError?: unknown;
  /**
   * The OAuth error body of the last failed identity server response. MSAL loses the AADSTS code
   * on some paths (openid_config_error for an unknown tenant, post_request_failed while polling a
   * device code); this restores it.
   */
  serverError?: { error: string; aadsts?: string; description?: string };
  /** Whether the account uses an app-only flow (changes the not-connected / auth-failed fix). */
  appOnly?: boolean;
}

interface Rule {
  kind: ErrorKind;
  title: string;
  fix: (ctx: DiagnoseContext) => string;
  retryable?: boolean;
}

const ENTRA_OVERVIEW = 'Microsoft Entra admin center → Identity → Overview';
const app = (ctx: DiagnoseContext) => (ctx.clientId ? ` ${ctx.clientId}` : '');

/** AADSTS codes we explain. The key is the number after "AADSTS". */
const AADSTS_RULES: Record<string, Rule> = {
  // Throttling and transient errors. MSAL replays a 429/5xx answer from its throttling cache
  // (until Retry-After, 60 s without one) as a ServerError with only these codes and no HTTP status.
  '90055': {
    kind: 'throttled',
    title: 'The identity server is throttling token requests',
    fix: () => 'Wait; the account retries by itself. Many token requests usually mean tokens are not reused.',
    retryable: true,
  },
  '90033': {
    kind: 'identity-server-error',
    title: 'The identity server had a transient problem',
    fix: () => 'This is on Microsoft\'s side; the account retries with backoff.',
    retryable: true,
  },
  '700016': {
    kind: 'app-not-found',
    title: 'The application was not found in the tenant',
    fix: (ctx) => `Check the Application (client) ID${app(ctx)} and the tenant: the app must be registered in this tenant (or consented to it) and in the selected cloud. Copy the ID from App registrations → your app → Overview.`,
  },
  '7000215': {
    kind: 'invalid-secret',
    title: 'The client secret is wrong',
    fix: () => 'Copy the secret *Value*, not the Secret ID, from App registrations → your app → Certificates & secrets. If the value is no longer shown, create a new secret.',
  },
  '7000222': {
    kind: 'expired-secret',
    title: 'The client secret has expired',
    fix: () => 'Create a new client secret under App registrations → your app → Certificates & secrets and paste its *Value* into the account.',
  },
  '7000218': {
    kind: 'public-client-disabled',
    title: 'The app does not allow public client flows',
    fix: () => 'In App registrations → your app → Authentication, set "Allow public client flows" to Yes (needed for device code sign-in), then save.',
  },
  '90002': {
    kind: 'tenant-not-found',
    title: 'The tenant was not found',
    fix: (ctx) => `Use the tenant GUID: copy the Tenant ID from ${ENTRA_OVERVIEW}${ctx.tenant ? ` (instead of "${ctx.tenant}")` : ''}, and check that the selected cloud is the tenant's cloud.`,
  },
  '900023': {
    kind: 'tenant-not-found',
    title: 'The tenant is neither a valid GUID nor a domain',
    fix: () => `Use the Tenant ID from ${ENTRA_OVERVIEW}, or a verified domain such as contoso.onmicrosoft.com.`,
  },
  '65001': {
    kind: 'no-consent',
    title: 'The app has no consent for the requested permission',
    fix: () => 'In App registrations → your app → API permissions, click "Grant admin consent for <tenant>" (an administrator must do it), then try again.',
  },
  '65004': {
    kind: 'sign-in-declined',
    title: 'The user declined to consent',
    fix: () => 'Sign in again and accept the permissions, or ask an administrator to grant admin consent under API permissions.',
  },
  '70011': {
    kind: 'invalid-scope',
    title: 'The requested scope is not valid',
    fix: () => 'Request only the IMAP/POP scopes of outlook.office.com (delegated) or https://outlook.office365.com/.default (app-only); never add Graph scopes such as User.Read to the same request.',
  },
  '700022': {
    kind: 'mixed-resources',
    title: 'The request mixes scopes of several resources',
    fix: () => 'Request only Exchange Online scopes (IMAP.AccessAsUser.All, POP.AccessAsUser.All, offline_access) in one request; Graph scopes such as User.Read need a separate token.',
  },
  '50076': {
    kind: 'mfa-required',
    title: 'Multi-factor authentication is required',
    fix: () => 'Sign in again with device code or browser sign-in and complete the MFA prompt; background refresh cannot satisfy a new MFA requirement.',
  },
  '50079': {
    kind: 'mfa-required',
    title: 'The user must register for multi-factor authentication',
    fix: () => 'Complete MFA registration at https://aka.ms/mfasetup, then sign in again.',
  },
  '500011': {
    kind: 'resource-not-found',
    title: 'Exchange Online was not found in the tenant',
    fix: () => 'The tenant has no Exchange Online service principal: check that the tenant has Exchange Online licenses and that the selected cloud (global, GCC High, DoD, China) is the tenant\'s cloud.',
  },
  '9001023': {
    kind: 'bad-request',
    title: 'This grant type is not supported on /common or /consumers',
    fix: () => `Enter your tenant ID from ${ENTRA_OVERVIEW} (or your domain) instead of common/consumers.`,
  },
  '50194': {
    kind: 'bad-request',
    title: 'The app is single-tenant and cannot use /common',
    fix: () => `Enter your tenant ID from ${ENTRA_OVERVIEW} (or your domain) instead of common/organizations.`,
  },
  '50011': {
    kind: 'bad-request',
    title: 'The redirect URI is not registered for the app',
    fix: () => 'Add the exact redirect URI shown in the account settings under App registrations → your app → Authentication → Add a platform → Web (or Mobile and desktop).',
  },
  '700027': {
    kind: 'invalid-assertion',
    title: 'The certificate signature was not accepted',
    fix: () => 'Upload the certificate (public part, .cer/.pem) under App registrations → your app → Certificates & secrets → Certificates, and make sure the thumbprint and private key in the account belong to that certificate.',
  },
  '700024': {
    kind: 'invalid-assertion',
    title: 'The client assertion is not within its valid time range',
    fix: () => 'Synchronize the clock of this machine (NTP); the signed assertion is only valid for a few minutes.',
  },
  '50105': {
    kind: 'no-consent',
    title: 'The user is not assigned to the application',
    fix: () => 'In Enterprise applications → your app → Users and groups, assign the user, or set "Assignment required?" to No.',
  },
  '53003': {
    kind: 'interaction-required',
    title: 'Access was blocked by Conditional Access',
    fix: () => 'Ask an administrator to check the Conditional Access sign-in logs for this app and user.',
  },
  '700082': {
    kind: 'sign-in-required',
    title: 'The refresh token has expired due to inactivity',
    fix: () => 'Sign in again in the account settings.',
  },
  '70008': {
    kind: 'sign-in-required',
    title: 'The refresh token has expired',
    fix: () => 'Sign in again in the account settings.',
  },
  '50173': {
    kind: 'sign-in-required',
    title: 'The grant was revoked (password change or sign-out)',
    fix: () => 'Sign in again in the account settings.',
  },
};

/** OAuth error codes (RFC 6749 / RFC 8628) and MSAL client error codes. */
const OAUTH_RULES: Record<string, Rule> = {
  invalid_grant: {
    kind: 'sign-in-required',
    title: 'The sign-in has expired or was revoked',
    fix: () => 'Sign in again in the account settings (refresh tokens end after 90 days of inactivity, a password reset or an administrator\'s revocation).',
  },
  authorization_declined: {
    kind: 'sign-in-declined',
    title: 'The sign-in was declined',
    fix: () => 'Start the sign-in again and approve it.',
  },
  access_denied: {
    kind: 'sign-in-declined',
    title: 'The sign-in was declined',
    fix: () => 'Start the sign-in again and approve it.',
  },
  expired_token: {
    kind: 'sign-in-expired',
    title: 'The sign-in code expired before it was used',
    fix: () => 'Start the sign-in again and enter the new code within its time limit (usually 15 minutes).',
  },
  device_code_expired: {
    kind: 'sign-in-expired',
    title: 'The sign-in code expired before it was used',
    fix: () => 'Start the sign-in again and enter the new code within its time limit (usually 15 minutes).',
  },
  user_timeout_reached: {
    kind: 'sign-in-expired',
    title: 'The sign-in was not completed in time',
    fix: () => 'Start the sign-in again.',
  },
  device_code_polling_cancelled: {
    kind: 'sign-in-required',
    title: 'The sign-in was cancelled',
    fix: () => 'Start the sign-in again.',
  },
  no_account_found: {
    kind: 'sign-in-required',
    title: 'No account is signed in',
    fix: () => 'Sign in in the account settings (device code or browser sign-in).',
  },
  no_tokens_found: {
    kind: 'sign-in-required',
    title: 'No stored sign-in was found',
    fix: () => 'Sign in in the account settings (device code or browser sign-in).',
  },
  interaction_required: {
    kind: 'interaction-required',
    title: 'The user must sign in interactively',
    fix: () => 'Sign in again in the account settings.',
  },
  consent_required: {
    kind: 'no-consent',
    title: 'Consent is required',
    fix: () => 'In App registrations → your app → API permissions, grant admin consent, or sign in again and accept the permissions.',
  },
  login_required: {
    kind: 'sign-in-required',
    title: 'The user must sign in',
    fix: () => 'Sign in again in the account settings.',
  },
  invalid_client: {
    kind: 'invalid-secret',
    title: 'The client credentials were not accepted',
    fix: () => 'Check the client secret *Value* (not the Secret ID) or the certificate registered on the app.',
  },
  unauthorized_client: {
    kind: 'app-not-found',
    title: 'The client is not authorized for this flow',
    fix: () => 'Check the Application (client) ID and that the app registration allows this flow (Authentication → Allow public client flows for device code).',
  },
  state_mismatch: {
    kind: 'bad-request',
    title: 'The sign-in response does not belong to this sign-in (state mismatch)',
    fix: () => 'Start the sign-in again from the account settings and complete it in the same browser tab.',
  },
  endpoints_resolution_error: {
    kind: 'network',
    title: 'The identity server\'s metadata could not be loaded',
    fix: () => 'Check the cloud and authority host, the network connection and the proxy settings.',
    retryable: true,
  },
  network_error: {
    kind: 'network',
    title: 'The identity server could not be reached',
    fix: () => 'Check the network connection, DNS, firewall and proxy settings (HTTPS_PROXY / the account\'s proxy).',
    retryable: true,
  },
  missing_tenant_id_error: {
    kind: 'config',
    title: 'App-only tokens need a specific tenant',
    fix: () => `App-only needs your tenant ID or domain: enter the Tenant ID from ${ENTRA_OVERVIEW} instead of common/organizations/consumers.`,
  },
  untrusted_authority: {
    kind: 'config',
    title: 'The authority is not trusted by MSAL',
    fix: () => 'Check the authority host of the custom cloud.',
  },
};

function pickString(value: unknown, key: string): string | undefined {
  if (value && typeof value === 'object' && key in value) {
    const v = (value as Record<string, unknown>)[key];
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

function pickNumber(value: unknown, key: string): number | undefined {
  if (value && typeof value === 'object' && key in value) {
    const v = (value as Record<string, unknown>)[key];
    return typeof v === 'number' ? v : undefined;
  }
  return undefined;
}

/** Pulls the AADSTS number out of an MSAL error's code, errorNo or message. */
export function aadstsCode(err: unknown): string | undefined {
  const errorNo = pickString(err, 'errorNo');
  if (errorNo && /^\d+$/.test(errorNo)) return errorNo;
  const texts = [pickString(err, 'errorMessage'), pickString(err, 'message')];
  for (const text of texts) {
    const match = text && /AADSTS(\d{5,8})/.exec(text);
    if (match) return match[1];
  }
  return undefined;
}

/** The first sentence of the AADSTS description, without trace/correlation noise. */
function aadstsSummary(err: unknown, code: string): string | undefined {
  const text = pickString(err, 'errorMessage') ?? pickString(err, 'message') ?? '';
  const match = new RegExp(`AADSTS${code}:\\s*([^\\r\\n]*?)(?:\\.\\s|\\r|\\n|\\s-\\s(?:Timestamp|Correlation|Trace)|$)`).exec(text);
  return match?.[1]?.trim() || undefined;
}

/**
 * Maps an error thrown by MSAL (ServerError, InteractionRequiredAuthError, ClientAuthError, …) to an
 * M365MailError with kind and fix text. Unknown errors become kind 'unknown' with MSAL's code.
 */
export function errorFromMsal(err: unknown, ctx: DiagnoseContext = {}): M365MailError {
  if (err instanceof M365MailError) return err;
  const errorCode = pickString(err, 'errorCode') ?? pickString(err, 'code') ?? '';
  const status = ctx.httpStatus ?? pickNumber(err, 'status');

  const ownCode = aadstsCode(err);
  const code = ownCode ?? ctx.serverError?.aadsts;
  const rule = code ? AADSTS_RULES[code] : undefined;
  if (code && rule) {
    const summary = aadstsSummary(ownCode ? err : { errorMessage: ctx.serverError?.description }, code);
    return new M365MailError(`${rule.title} (AADSTS${code}${summary ? `: ${summary}` : ''}).`, {
      kind: rule.kind, fix: rule.fix(ctx), code: `AADSTS${code}`, retryable: rule.retryable ?? false,
      retryAfterMs: rule.retryable ? ctx.retryAfterMs : undefined, cause: err,
    });
  }

  // Throttling and server trouble first: their OAuth codes (temporarily_unavailable, …) say little.
  if (status === 429) {
    return new M365MailError('The identity server is throttling token requests (HTTP 429).', {
      kind: 'throttled', retryable: true, retryAfterMs: ctx.retryAfterMs ?? 60_000, code: 'HTTP429', cause: err,
      fix: 'Wait and retry; the account backs off by itself. Many token requests usually mean tokens are not reused.',
    });
  }
  if ((status !== undefined && status >= 500 && status < 600) || errorCode === 'temporarily_unavailable' || errorCode === 'server_error') {
    return new M365MailError(`The identity server had a problem${status ? ` (HTTP ${status})` : ''}.`, {
      kind: 'identity-server-error', retryable: true, retryAfterMs: ctx.retryAfterMs, code: status ? `HTTP${status}` : errorCode, cause: err,
      fix: 'This is on Microsoft\'s side; the account retries with backoff.',
    });
  }

  if (errorCode === 'network_error' || errorCode === 'endpoints_resolution_error') {
    const transport = errorFromTransport(ctx.transportError ?? (err as { cause?: unknown } | undefined)?.cause);
    if (transport) return transport;
  }

  const oauth = OAUTH_RULES[errorCode] ?? (ctx.serverError ? OAUTH_RULES[ctx.serverError.error] : undefined);
  if (oauth) {
    return new M365MailError(`${oauth.title}${code ? ` (AADSTS${code})` : ''}.`, {
      kind: oauth.kind, fix: oauth.fix(ctx), code: code ? `AADSTS${code}` : errorCode, retryable: oauth.retryable ?? false,
      retryAfterMs: oauth.retryable ? ctx.retryAfterMs : undefined, cause: err,
    });
  }

  const transport = errorFromTransport(err);
  if (transport) return transport;

  const detail = code ? `AADSTS${code}` : errorCode || (err instanceof Error ? err.name : 'error');
  return new M365MailError(`Getting an access token failed (${detail}).`, {
    kind: 'unknown', code: detail, retryable: false, cause: err,
    fix: 'Check the account settings; the AADSTS code can be looked up at https://login.microsoftonline.com/error.',
  });
}

/**
 * Maps a mail server's refusal (IMAP tagged NO/BAD/BYE text, POP3 -ERR line) to an M365MailError,
 * using the catalogue in ./server-refusals. Returns kind 'unknown' for texts it doesn't know, with
 * the server text (never a token) in it.
 */
export function errorFromServerResponse(protocol: MailProtocol, text: string, ctx: DiagnoseContext = {}): M365MailError {
  const known = diagnoseServerRefusal(protocol, text, { clientId: ctx.clientId, appOnly: ctx.appOnly });
  if (known) {
    return new M365MailError(known.title, {
      kind: known.kind, fix: known.fix, code: known.code, retryable: known.retryable, retryAfterMs: known.retryAfterMs,
    });
  }
  const line = text.replace(/\s+/g, ' ').trim().slice(0, 300);
  return new M365MailError(`${protocol === 'imap' ? 'IMAP' : 'POP3'} server refused: ${line}`, {
    kind: 'unknown', retryable: false,
    fix: 'See the server text; if it mentions authentication, check the app permissions and that IMAP/POP is enabled for the mailbox.',
  });
}
