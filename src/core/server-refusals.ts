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

// ---------------------------------------------------------------------------------------------
// SMTP submission (m365-mail-out). SMTP replies carry a reply code and an enhanced status code
// (RFC 3463), so these rows match on codes first and Exchange's wording second. Each row says
// whether the refusal ends the session (`session`: the mail stays in the outbox and is retried,
// the node shows the fix) or refuses this one mail (`mail`: it goes to Catch nodes and leaves the
// outbox), and whether waiting helps.

/** Which SMTP refusal the catalogue knows, by name. */
export type SmtpRefusalName =
  | 'smtp-auth-disabled' | 'smtp-basic-auth' | 'smtp-auth-failed' | 'smtp-not-authenticated' | 'smtp-tls-required'
  | 'smtp-send-as-denied' | 'smtp-sender-blocked' | 'smtp-throttled' | 'smtp-busy' | 'smtp-too-many-connections'
  | 'smtp-temporary' | 'smtp-mail-refused';

export interface SmtpServerRefusal extends Omit<ServerRefusal, 'name'> {
  name: SmtpRefusalName;
  /** `session`: nothing about this mail; it stays queued. `mail`: this mail is refused for good. */
  scope: 'session' | 'mail';
}

interface SmtpRule {
  name: SmtpRefusalName;
  matches: (reply: { code: number; status?: string; text: string }) => boolean;
  kind: ErrorKind;
  retryable: boolean;
  scope: 'session' | 'mail';
  title: string;
  fix: (ctx: RefusalContext) => string;
  retryAfterMs?: number;
}

const SMTP_AUTH_SWITCH = 'Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false';
const SMTP_PERMISSION = (ctx: RefusalContext): string => (ctx.appOnly === true
  ? 'the SMTP.SendAsApp application permission of "Office 365 Exchange Online" with admin consent'
  : ctx.appOnly === false ? 'the SMTP.Send delegated permission (https://outlook.office.com/SMTP.Send)'
    : 'SMTP.Send (signed-in user: https://outlook.office.com/SMTP.Send) or SMTP.SendAsApp (app-only, with admin consent)');

/** First match wins. */
const SMTP_RULES: SmtpRule[] = [
  {
    // "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant/Mailbox.
    // Visit https://aka.ms/smtp_auth_disabled". Source: "Enable or disable authenticated client SMTP
    // submission (SMTP AUTH) in Exchange Online",
    // https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/authenticated-client-smtp-submission
    // (the same code with "security defaults" or "did not meet the criteria" means the sign-in policy blocks it).
    name: 'smtp-auth-disabled', matches: (r) => r.status === '5.7.139' || /SmtpClientAuthentication is disabled/i.test(r.text),
    kind: 'smtp-auth-disabled', retryable: false, scope: 'session',
    title: 'SMTP server refused the login: SMTP AUTH is disabled (535 5.7.139).',
    fix: () => `Enable SMTP AUTH for the mailbox in Exchange Online PowerShell: ${SMTP_AUTH_SWITCH}, and for the organisation `
      + '(Exchange admin center → Settings → Mail flow: clear "Turn off SMTP AUTH protocol for your organization", or Set-TransportConfig -SmtpClientAuthenticationDisabled $false). '
      + 'If the text mentions security defaults or a policy, the sign-in policy blocks SMTP AUTH for this user. Changes take up to an hour.',
  },
  {
    // "550 5.7.30 Basic authentication is not supported for Client Submission": a password was sent.
    // Source: "Exchange Online to retire Basic auth for Client Submission (SMTP AUTH)",
    // https://techcommunity.microsoft.com/blog/exchange/exchange-online-to-retire-basic-auth-for-client-submission-smtp-auth/4114750
    name: 'smtp-basic-auth', matches: (r) => r.status === '5.7.30',
    kind: 'auth-failed', retryable: false, scope: 'session',
    title: 'SMTP server refused a password login (550 5.7.30 Basic authentication is not supported).',
    fix: () => 'Exchange Online accepts only OAuth (XOAUTH2) for SMTP submission; this node always signs in with a token. Check that smtpHost/smtpPort point at Exchange Online\'s submission endpoint and no relay in between replaces the login.',
  },
  {
    // "535 5.7.3 Authentication unsuccessful": Exchange's answer to every refused token. Sources:
    // https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
    // (SMTP.Send / SMTP.SendAsApp, the service principal) and the SMTP AUTH page above.
    name: 'smtp-auth-failed', matches: (r) => r.code === 535 || (r.code >= 500 && /Authentication unsuccessful/i.test(r.text)),
    kind: 'auth-failed', retryable: false, scope: 'session',
    title: 'SMTP server refused the access token (535 5.7.3 Authentication unsuccessful).',
    fix: (ctx) => `Check that the token is for Office 365 Exchange Online with ${SMTP_PERMISSION(ctx)}, that SMTP AUTH is enabled for the mailbox (${SMTP_AUTH_SWITCH}) `
      + `and the organisation${ctx.appOnly === false ? '' : `, and for app-only the service principal: ${servicePrincipalFix(ctx)}`}`,
  },
  {
    // "530 5.7.57 Client not authenticated to send mail" (Exchange also says "... to send anonymous mail
    // during MAIL FROM"). Source: "How to set up a multifunction device or application to send email
    // using Microsoft 365", https://learn.microsoft.com/exchange/mail-flow-best-practices/how-to-set-up-a-multifunction-device-or-application-to-send-email-using-microsoft-365-or-office-365
    name: 'smtp-not-authenticated', matches: (r) => r.status === '5.7.57',
    kind: 'auth-failed', retryable: true, scope: 'session',
    title: 'SMTP server refused to send: the session was not authenticated (530 5.7.57).',
    fix: () => 'The login did not happen or did not hold (STARTTLS and AUTH XOAUTH2 must both succeed before MAIL FROM). This is retried with a fresh connection; if it persists, check that smtpHost/smtpPort are Exchange Online\'s submission endpoint (smtp.office365.com:587).',
  },
  {
    // Exchange refuses MAIL before STARTTLS ("451 5.7.3 STARTTLS is required to send mail") and AUTH
    // before it ("504 5.7.4 Unrecognized authentication type"). Source: the SMTP AUTH page above (TLS required).
    name: 'smtp-tls-required', matches: (r) => /STARTTLS is required|Must issue a STARTTLS/i.test(r.text) || r.status === '5.7.4',
    kind: 'tls', retryable: false, scope: 'session',
    title: 'SMTP server requires STARTTLS before login and mail.',
    fix: () => 'This node always uses STARTTLS and never logs in without it: check that smtpHost/smtpPort are the submission endpoint (port 587), not a port of another service, and that nothing in between strips STARTTLS.',
  },
  {
    // "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied" and
    // "550 5.7.60 SMTP; Client does not have permissions to send as this sender". Sources: the
    // multifunction-device page above (5.7.60) and "Manage permissions for recipients in Exchange Online",
    // https://learn.microsoft.com/exchange/recipients-in-exchange-online/manage-permissions-for-recipients
    name: 'smtp-send-as-denied', matches: (r) => r.status === '5.7.60' || /SendAsDenied/i.test(r.text),
    kind: 'send-as-denied', retryable: false, scope: 'mail',
    title: 'SMTP server refused the sender: the mailbox may not send as this From address (SendAsDenied).',
    fix: () => 'Send from the mailbox that logs in (leave msg.from empty), or give it the right: Add-RecipientPermission -Identity <msg.from address> -Trustee <mailbox> -AccessRights SendAs '
      + '(or "Send on behalf" with Set-Mailbox -GrantSendOnBehalfTo). Changes take up to an hour.',
  },
  {
    // "550 5.1.8 Access denied, bad outbound sender": the mailbox is on the Restricted entities list
    // after sending spam. Sources: "Fix NDR error 550 5.1.8",
    // https://learn.microsoft.com/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online/fix-error-code-550-5-1-8-in-exchange-online
    // and "Remove blocked users from the Restricted entities page",
    // https://learn.microsoft.com/defender-office-365/outbound-spam-restore-restricted-users
    name: 'smtp-sender-blocked', matches: (r) => r.status === '5.1.8' || /bad outbound sender/i.test(r.text),
    kind: 'sender-blocked', retryable: true, scope: 'session', retryAfterMs: 15 * 60_000,
    title: 'SMTP server refused the sender: the mailbox is blocked from sending (550 5.1.8 Access denied, bad outbound sender).',
    fix: () => 'Microsoft 365 restricted this mailbox for outbound spam. Secure the account (it may be compromised), then unblock it in the Microsoft Defender portal → Email & collaboration → Review → Restricted entities. '
      + 'The mail waits in the outbox and is retried every 15 minutes.',
  },
  {
    // "421 4.7.66 Too many messages submitted by this mailbox": Exchange's 30 messages a minute.
    // Source: "Exchange Online limits" → Sending limits,
    // https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits#sending-limits
    name: 'smtp-throttled', matches: (r) => r.status === '4.7.66' || (r.code >= 400 && r.code < 500 && parseThrottleHint(r.text) !== undefined),
    // No fixed wait: the exponential backoff (from 1 s, with jitter, up to a minute) finds the end of
    // Exchange's sliding minute without waiting a whole minute after a short burst.
    kind: 'throttled', retryable: true, scope: 'session',
    title: 'SMTP server is throttling this mailbox (421 4.7.66 too many messages).',
    fix: () => 'Handled automatically: the node waits and sends on. Exchange Online accepts 30 messages a minute per mailbox; keep the node\'s pace at 30 or below (and count other senders of the mailbox).',
  },
  {
    // "451 4.7.500 Server busy. Please try again later" (4.7.500-699: access temporarily denied).
    // Source: "Email non-delivery reports and SMTP errors in Exchange Online",
    // https://learn.microsoft.com/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online/non-delivery-reports-in-exchange-online
    name: 'smtp-busy', matches: (r) => /^4\.7\.[5-6]\d\d$/.test(r.status ?? ''),
    kind: 'throttled', retryable: true, scope: 'session',
    title: 'SMTP server is busy (451 4.7.500).',
    fix: () => 'Handled automatically: the node waits and tries again.',
  },
  {
    // "421 4.3.2 The maximum number of concurrent connections has exceeded a limit": Exchange allows
    // few concurrent SMTP connections per mailbox. Source: the Exchange Online limits page above.
    name: 'smtp-too-many-connections', matches: (r) => r.status === '4.3.2' || /concurrent connections/i.test(r.text),
    kind: 'throttled', retryable: true, scope: 'session',
    title: 'SMTP server refused another connection for this mailbox (421 4.3.2).',
    fix: () => 'Handled automatically: the node waits and tries again. It keeps one connection per account and mailbox; other programs sending as the same mailbox count too.',
  },
  {
    // Any other 4xx (e.g. "451 4.4.0 Mailbox server not available"): transient by definition (RFC 5321 §4.2.1).
    name: 'smtp-temporary', matches: (r) => r.code >= 400 && r.code < 500,
    kind: 'server-error', retryable: true, scope: 'session',
    title: 'SMTP server reported a temporary problem.',
    fix: () => 'Handled automatically: the mail stays in the outbox and is sent when the server accepts it.',
  },
  {
    // Any other 5xx for this mail (a recipient that does not exist, a mail too large, content refused):
    // permanent (RFC 5321 §4.2.1). Source for Exchange's codes: the NDR page above.
    name: 'smtp-mail-refused', matches: (r) => r.code >= 500,
    kind: 'mail-refused', retryable: false, scope: 'mail',
    title: 'SMTP server refused the mail.',
    fix: () => 'See the server\'s answer: check the recipients\' addresses, the size (Exchange Online accepts up to 35 MB by default) and the content. The mail was taken out of the outbox.',
  },
];

/** Reply code, enhanced status code and text of an SMTP reply line ("550 5.1.8 Access denied ..."). */
export function parseSmtpReply(reply: string): { code: number; status?: string; text: string } {
  const match = /^(\d{3})[ -](?:(\d\.\d{1,3}\.\d{1,3})\s)?/.exec(reply.trim());
  return { code: match ? Number(match[1]) : 0, status: match?.[2], text: reply };
}

/**
 * Looks an SMTP reply up in the catalogue; `undefined` for a positive reply or one without a
 * code. `stage` says where it came: a refusal at the greeting or AUTH never refuses the mail
 * (scope 'session': the mail stays queued, retried later even when waiting alone will not help).
 */
export function diagnoseSmtpRefusal(reply: string, ctx: RefusalContext = {}, stage: 'session' | 'mail' = 'mail'): SmtpServerRefusal | undefined {
  const parsed = parseSmtpReply(reply);
  if (parsed.code < 400) return undefined;
  const rule = SMTP_RULES.find((r) => r.matches(parsed));
  if (!rule) return undefined;
  const hint = parseThrottleHint(reply)?.retryAfterMs;
  return {
    name: rule.name, kind: rule.kind, title: rule.title, fix: rule.fix(ctx),
    code: parsed.status ? `${parsed.code} ${parsed.status}` : String(parsed.code),
    retryable: rule.retryable,
    retryAfterMs: rule.retryable ? hint ?? rule.retryAfterMs : undefined,
    scope: stage === 'session' ? 'session' : rule.scope,
  };
}
