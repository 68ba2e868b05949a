/**
 * Why a mail server refused a login, told from the token that was sent. Exchange answers every
 * refused token with the same words ("AUTHENTICATE failed", "-ERR Authentication failure",
 * "535 5.7.3"), whatever is wrong; the token itself shows the most common causes — issued for
 * another audience (Microsoft Graph, a wrong `resource`) or without the protocol's permission.
 * Only when the token looks right does the error point at the mailbox side. One function for
 * every protocol (IMAP, POP3, SMTP); the token is read, never printed.
 */
import { M365MailError } from '../core/errors';
import { mailboxSideLoginFix } from '../core/server-refusals';
import { CLOUDS, type ResolvedEndpoints } from './clouds';
import { APP_PERMISSION, DELEGATED_PERMISSION, EXCHANGE_AUDIENCES, explainAccessToken, normalizeAudience, type TokenKind, type TokenProtocol } from './token-explainer';

/** What a token of an account should look like; token sources tell it (see AccessTokenSource). */
export interface ExpectedToken {
  kind: TokenKind;
  /** The resource the account requests its tokens for (its cloud's, or `resource` of cloud `custom`). */
  requestedResource: string;
  /** The audience Exchange Online wants for this account. */
  exchangeResource: string;
  /** Application (client) ID, for the concrete service principal commands. */
  clientId?: string;
}

/**
 * The audience Exchange Online wants from this account: the resource it requests when that is an
 * Exchange one; otherwise (a `custom` cloud set to Graph or another resource) the Exchange
 * resource of the known cloud whose IMAP host, sign-in host or POP3 host (in that order) the
 * account uses, else the global one.
 */
export function exchangeResourceFor(
  endpoints: Pick<ResolvedEndpoints, 'authorityHost' | 'imap' | 'pop3' | 'delegatedResource' | 'appOnlyResource'>,
  kind: TokenKind,
): string {
  const requested = kind === 'app-only' ? endpoints.appOnlyResource : endpoints.delegatedResource;
  if (EXCHANGE_AUDIENCES.has(normalizeAudience(requested))) return requested;
  const authority = normalizeAudience(endpoints.authorityHost);
  const clouds = Object.values(CLOUDS);
  const cloud = clouds.find((profile) => profile.imap.host === endpoints.imap.host.toLowerCase())
    ?? clouds.find((profile) => normalizeAudience(profile.authorityHost) === authority)
    ?? clouds.find((profile) => profile.pop3.host === endpoints.pop3.host.toLowerCase())
    ?? CLOUDS.global;
  return kind === 'app-only' ? cloud.appOnlyResource : cloud.delegatedResource;
}

/**
 * Explains a refused login (`refused.kind === 'auth-failed'`) by the token that was sent:
 * - wrong audience: names the audience the token has and the one Exchange wants (and, when the
 *   account asked for the wrong one, the setting to change);
 * - missing permission: names the permission (IMAP.AccessAsApp, POP.AccessAsUser.All, SMTP.Send …);
 * - token looks right: keeps 'auth-failed' with a fix naming only the mailbox-side causes.
 * Without `expected` (a token source that does not say) the token's own claims are judged. Other
 * errors and opaque tokens (nothing to read) come back unchanged.
 * The server's answer stays in the message; the token never appears.
 */
export function explainRefusedLogin(
  refused: M365MailError,
  token: string,
  protocol: TokenProtocol,
  expected: ExpectedToken | undefined,
  appOnly?: boolean,
): M365MailError {
  if (refused.kind !== 'auth-failed') return refused;
  const kind = expected?.kind ?? (appOnly === undefined ? undefined : appOnly ? 'app-only' : 'delegated');
  const explanation = explainAccessToken(token, { kind, protocol, resource: expected?.exchangeResource });
  if (explanation.problems.some((p) => p.kind === 'invalid-token')) return refused;
  const problem = explanation.problems.find((p) => p.kind === 'wrong-audience' || p.kind === 'missing-permission');
  if (problem) {
    return new M365MailError(`${problem.message} ${refused.message}`, {
      kind: problem.kind, fix: fixFor(problem, expected), code: refused.code, retryable: false, cause: refused,
    });
  }
  const tokenKind = kind ?? explanation.kind;
  const permission = (tokenKind === 'app-only' ? APP_PERMISSION : DELEGATED_PERMISSION)[protocol];
  return new M365MailError(`${refused.message} The token looks right (for ${explanation.audience ?? 'Exchange Online'}, with ${permission}): the mailbox side refused it.`, {
    kind: 'auth-failed', code: refused.code, retryable: refused.retryable, retryAfterMs: refused.retryAfterMs, cause: refused,
    fix: mailboxSideLoginFix(protocol, { appOnly: tokenKind === undefined ? undefined : tokenKind === 'app-only', clientId: expected?.clientId }),
  });
}

function fixFor(problem: M365MailError, expected: ExpectedToken | undefined): string {
  const fix = problem.fix ?? '';
  if (problem.kind !== 'wrong-audience' || !expected) return fix;
  if (normalizeAudience(expected.requestedResource) === normalizeAudience(expected.exchangeResource)) return fix;
  return `The account requests tokens for ${expected.requestedResource}: set its Resource (cloud "custom") to ${expected.exchangeResource}, `
    + `or choose the cloud your tenant is in. ${fix}`;
}
