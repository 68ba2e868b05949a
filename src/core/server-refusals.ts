/**
 * What IMAP and POP3 servers (Exchange Online above all) answer when they refuse a login or a
 * command, and what the user should do about it. One catalogue for both protocols, so the same
 * refusal text gets the same kind, fix text and retry advice whichever protocol carried it; a rule
 * is limited to one protocol only where that protocol alone has the wording.
 */
import type { ErrorKind } from './errors';
import type { MailProtocol } from './protocol';
import { parseThrottleHint } from './backoff';

/** What the caller knows about the account; used to make fix texts concrete. */
export interface RefusalContext {
  clientId?: string;
  /** App-only or delegated flow; when unknown, the fix texts cover both. */
  appOnly?: boolean;
}

/** The refusals the catalogue knows, by name. */
export type RefusalName =
  | 'mailbox-in-use' | 'temporary' | 'token-expired' | 'throttled' | 'xoauth2-one-line'
  | 'not-connected' | 'auth-failed' | 'folder-not-found';

export interface ServerRefusal {
  name: RefusalName;
  kind: ErrorKind;
  /** One sentence naming the protocol, e.g. "IMAP server is throttling this mailbox." */
  title: string;
  fix: string;
  code?: string;
  retryable: boolean;
  retryAfterMs?: number;
}

interface RefusalRule {
  name: RefusalName;
  /** Only this protocol uses the wording; other rules apply to both. */
  only?: MailProtocol;
  matches: (text: string) => boolean;
  kind: ErrorKind;
  retryable: boolean;
  code?: (protocol: MailProtocol) => string;
  title: (label: string) => string;
  fix: (protocol: MailProtocol, ctx: RefusalContext) => string;
  retryAfterMs?: (text: string) => number | undefined;
}

/** How long to hold off after a throttling answer that named no delay. */
export const DEFAULT_THROTTLE_BACKOFF_MS = 60_000;

const SET_CAS_MAILBOX = 'Set-CASMailbox -Identity <mailbox> -ImapEnabled $true -PopEnabled $true';

const servicePrincipalFix = (ctx: RefusalContext): string =>
  'Register the service principal in Exchange Online PowerShell: '
  + `New-ServicePrincipal -AppId ${ctx.clientId || '<clientId>'} -ObjectId <object ID of the Enterprise Application, not of the App registration>, `
  + 'then Add-MailboxPermission -Identity <mailbox> -User <service principal id> -AccessRights FullAccess.';

/** The protocols whose logins the mailbox side can refuse; SMTP submission included. */
export type LoginProtocol = MailProtocol | 'smtp';

const MAILBOX_SWITCH: Record<LoginProtocol, string> = {
  imap: 'Set-CASMailbox -Identity <mailbox> -ImapEnabled $true',
  pop3: 'Set-CASMailbox -Identity <mailbox> -PopEnabled $true',
  smtp: 'Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false (and SMTP AUTH allowed for the organisation)',
};

/**
 * What is left to check when the token that was refused has the right audience and permission
 * (src/auth/refused-login checks that; the catalogue's auth-failed fix also covers the token):
 * the protocol switched off for the mailbox, and for app-only the service principal in Exchange
 * and its mailbox permission; for a signed-in user, access to the mailbox named.
 */
export function mailboxSideLoginFix(protocol: LoginProtocol, ctx: RefusalContext = {}): string {
  const label = protocol === 'imap' ? 'IMAP' : protocol === 'pop3' ? 'POP' : 'SMTP AUTH';
  const start = `The token is right, so check the mailbox side: ${label} must be enabled for the mailbox (${MAILBOX_SWITCH[protocol]}).`;
  const delegated = 'The mailbox must be the signed-in user\'s own or one it has FullAccess to.';
  if (ctx.appOnly === false) return `${start} ${delegated}`;
  if (ctx.appOnly === true) return `${start} ${servicePrincipalFix(ctx)}`;
  return `${start} App-only: ${servicePrincipalFix(ctx)} Signed-in user: ${delegated}`;
}

function authFailedFix(ctx: RefusalContext): string {
  if (ctx.appOnly === false) {
    return 'Check that the token has the IMAP.AccessAsUser.All / POP.AccessAsUser.All scope of Office 365 Exchange Online, that the user name is the signed-in mailbox, '
      + `and that IMAP/POP is enabled for it (${SET_CAS_MAILBOX}).`;
  }
  if (ctx.appOnly === true) {
    return 'Check that the app has the IMAP.AccessAsApp / POP.AccessAsApp application permission of "Office 365 Exchange Online" with admin consent, '
      + `that IMAP/POP is enabled for the mailbox (${SET_CAS_MAILBOX}), and the service principal: ${servicePrincipalFix(ctx)}`;
  }
  return 'Check that the token is for Office 365 Exchange Online (https://outlook.office.com or https://outlook.office365.com, not Microsoft Graph) '
    + 'with the IMAP.AccessAsUser.All / POP.AccessAsUser.All scope (signed-in user) or the IMAP.AccessAsApp / POP.AccessAsApp application permission '
    + `with admin consent (app-only), and that IMAP/POP is enabled for the mailbox (${SET_CAS_MAILBOX}). App-only also needs: ${servicePrincipalFix(ctx)}`;
}

function notConnectedFix(ctx: RefusalContext): string {
  const delegated = 'Check that the mailbox address is the signed-in user\'s or one it has FullAccess to, and that the mailbox exists in Exchange Online.';
  if (ctx.appOnly === false) return delegated;
  if (ctx.appOnly === true) return `${servicePrincipalFix(ctx)} Also check that the mailbox address is correct.`;
  return `App-only: ${servicePrincipalFix(ctx)} Signed-in user: ${delegated}`;
}

/** First match wins: the order settles texts that match several rules ("Temporary authentication failure"). */
const RULES: RefusalRule[] = [
  {
    // RFC 2449: another POP3 session holds the maildrop lock.
    name: 'mailbox-in-use', only: 'pop3', matches: (t) => /\[IN-USE\]/i.test(t),
    kind: 'server-error', retryable: true,
    title: (label) => `${label} server reports the mailbox in use by another session.`,
    fix: () => 'Another POP3 session holds the mailbox lock. Make sure only one client polls this mailbox; the next attempt usually succeeds once the other session ends.',
  },
  {
    // Exchange could not check the token just then (its identity back end was slow): try again.
    name: 'temporary',
    matches: (t) => /\[(?:UNAVAILABLE|SYS\/TEMP|LOGIN-DELAY)\]|temporar|unavailable|try again/i.test(t),
    kind: 'server-error', retryable: true,
    title: (label) => `${label} server reported a temporary problem.`,
    fix: () => 'Handled automatically: the server reported a temporary problem (for example, it could not check the token just then), and the next attempt usually succeeds.',
  },
  {
    name: 'token-expired', matches: (t) => /AccessTokenExpired|\btoken (?:has )?expired/i.test(t),
    kind: 'token-expired', retryable: true, retryAfterMs: () => 0, code: () => 'AccessTokenExpired',
    title: (label) => `${label} server closed the session: the access token expired.`,
    fix: () => 'Handled automatically: a fresh token is fetched and the connection reopened. If this keeps happening, check the clock of this machine.',
  },
  {
    name: 'throttled', matches: (t) => parseThrottleHint(t) !== undefined,
    kind: 'throttled', retryable: true, code: () => 'THROTTLED',
    retryAfterMs: (t) => parseThrottleHint(t)?.retryAfterMs ?? DEFAULT_THROTTLE_BACKOFF_MS,
    title: (label) => `${label} server is throttling this mailbox.`,
    fix: () => 'Handled automatically: the next attempt waits as long as the server asked. If this keeps happening, reduce the number of connections or polls for this mailbox (Exchange Online allows few concurrent IMAP/POP connections per mailbox).',
  },
  {
    // Exchange's answer to "AUTH XOAUTH2 <initial response>" on one line (over its 512-byte limit).
    name: 'xoauth2-one-line', only: 'pop3', matches: (t) => /Protocol error\. Connection is closed/i.test(t),
    kind: 'protocol-error', retryable: false, code: () => 'Protocol error',
    title: (label) => `${label} server closed the connection with "Protocol error".`,
    fix: () => 'Exchange Online expects POP3 XOAUTH2 in two steps: "AUTH XOAUTH2", wait for "+", then send the base64 response on its own line '
      + '(no initial response on the AUTH line). This package always does so: check that pop3Host/pop3Port point at a POP3 server, and report a bug if it persists.',
  },
  {
    name: 'not-connected',
    matches: (t) => /authenticated but not connected|\bnot connected\b|logon failure(?![\s\S]*bad password)/i.test(t),
    kind: 'not-connected', retryable: false, code: () => 'NotConnected',
    title: (label) => `${label} server accepted the token but could not open the mailbox ("User is authenticated but not connected").`,
    fix: (_protocol, ctx) => notConnectedFix(ctx),
  },
  {
    name: 'auth-failed',
    matches: (t) => /AUTHENTICATE failed|AUTHENTICATIONFAILED|Authentication fail|LOGIN failed|invalid credentials|bad password|unknown user|\[AUTH\]/i.test(t),
    kind: 'auth-failed', retryable: false,
    code: (protocol) => (protocol === 'imap' ? 'AUTHENTICATE failed' : 'Authentication failure'),
    title: (label) => `${label} server refused the access token (${label === 'IMAP' ? 'AUTHENTICATE failed' : 'Authentication failure'}).`,
    fix: (_protocol, ctx) => authFailedFix(ctx),
  },
  {
    name: 'folder-not-found', only: 'imap',
    matches: (t) => /NONEXISTENT|Mailbox doesn't exist|mailbox does not exist|Folder not found|no such (?:mailbox|folder)|not found/i.test(t),
    kind: 'folder-not-found', retryable: false,
    title: (label) => `${label} server did not find the folder.`,
    fix: () => 'Check the folder path (sub-folders are separated by "/" on Exchange) or pick it from the folder list.',
  },
];

function toRefusal(rule: RefusalRule, protocol: MailProtocol, text: string, ctx: RefusalContext): ServerRefusal {
  const label = protocol === 'imap' ? 'IMAP' : 'POP3';
  return {
    name: rule.name, kind: rule.kind, title: rule.title(label), fix: rule.fix(protocol, ctx), code: rule.code?.(protocol),
    retryable: rule.retryable, retryAfterMs: rule.retryAfterMs?.(text),
  };
}

/**
 * Looks a server's refusal (IMAP tagged NO/BAD/BYE text, POP3 -ERR line) up in the catalogue;
 * `undefined` when the wording is not known.
 */
export function diagnoseServerRefusal(protocol: MailProtocol, text: string, ctx: RefusalContext = {}): ServerRefusal | undefined {
  const rule = RULES.find((r) => (r.only === undefined || r.only === protocol) && r.matches(text));
  return rule && toRefusal(rule, protocol, text, ctx);
}

/**
 * The catalogue entry for a refusal the caller recognised by other means than the text, e.g.
 * imapflow's `authenticationFailed` flag or any -ERR to POP3 AUTH.
 */
export function serverRefusal(name: RefusalName, protocol: MailProtocol, ctx: RefusalContext = {}): ServerRefusal {
  const rule = RULES.find((r) => r.name === name) as RefusalRule;
  return toRefusal(rule, protocol, '', ctx);
}
