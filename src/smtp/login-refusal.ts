/**
 * A refused SMTP login (535 5.7.3) explained by the token that was sent: a token for Microsoft
 * Graph or without SMTP.Send / SMTP.SendAsApp says so; a token that looks right points at the
 * mailbox side (SMTP AUTH disabled, service principal). The token is read, never printed.
 */
import { explainAccessToken } from '../auth/token-explainer';
import { M365MailError } from '../core/errors';

const SMTP_PERMISSION = { delegated: 'SMTP.Send', 'app-only': 'SMTP.SendAsApp' } as const;

export function explainSmtpLoginRefusal(refused: M365MailError, token: string, appOnly: boolean | undefined): M365MailError {
  const kind = appOnly === undefined ? undefined : appOnly ? 'app-only' : 'delegated';
  // The readers' explainer checks the audience; the SMTP permission is checked here.
  const explanation = explainAccessToken(token, { kind, protocol: 'imap' });
  if (explanation.problems.some((p) => p.kind === 'invalid-token')) return refused;
  const audience = explanation.problems.find((p) => p.kind === 'wrong-audience');
  if (audience) {
    return new M365MailError(`${audience.message} ${refused.message}`, {
      kind: 'wrong-audience', code: refused.code, retryable: false, cause: refused,
      fix: 'Tokens for SMTP must be for Office 365 Exchange Online: delegated https://outlook.office.com/SMTP.Send (with offline_access), app-only https://outlook.office365.com/.default; '
        + 'never a Microsoft Graph scope such as User.Read or Mail.Send in the same request. For cloud "custom", set Resource to the Exchange Online resource.',
    });
  }
  const tokenKind = kind ?? explanation.kind ?? 'delegated';
  const permission = SMTP_PERMISSION[tokenKind];
  const granted = tokenKind === 'app-only' ? explanation.roles : explanation.scopes;
  if (!granted.includes(permission)) {
    return new M365MailError(`The access token has no ${permission} ${tokenKind === 'app-only' ? 'role' : 'scope'} for SMTP. ${refused.message}`, {
      kind: 'missing-permission', code: refused.code, retryable: false, cause: refused,
      fix: `In the app registration → API permissions → Add a permission → APIs my organization uses → "Office 365 Exchange Online", add the `
        + `${tokenKind === 'app-only' ? 'Application' : 'Delegated'} permission ${permission}, then grant admin consent`
        + `${tokenKind === 'app-only' ? ' and register the service principal in Exchange (New-ServicePrincipal, Add-MailboxPermission).' : ' and sign in again.'}`,
    });
  }
  return new M365MailError(`${refused.message} The token looks right (for ${explanation.audience ?? 'Exchange Online'}, with ${permission}): the mailbox side refused it.`, {
    kind: 'auth-failed', code: refused.code, retryable: false, cause: refused,
    fix: 'Check that SMTP AUTH is enabled for the mailbox (Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false) and the organisation, '
      + (tokenKind === 'app-only'
        ? 'and that the service principal is registered in Exchange with access to the mailbox (New-ServicePrincipal, Add-MailboxPermission -AccessRights FullAccess).'
        : 'and that the mailbox is the signed-in user\'s own (or one it may send as).'),
  });
}
