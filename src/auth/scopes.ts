/**
 * Which scopes to ask for. Exchange Online accepts tokens only for its own resource, and the
 * identity platform refuses one request that mixes resources (AADSTS700022/AADSTS70011), so we
 * never add Graph scopes such as User.Read (MSAL itself adds openid and profile, which are fine).
 */
import { isAppOnly, type AuthType } from './account-config';
import type { ResolvedEndpoints } from './clouds';
import type { MailProtocol } from './token-source';

export const OFFLINE_ACCESS = 'offline_access';

/** The scopes to request for the protocols this account serves. */
export function scopesFor(
  authType: AuthType | undefined,
  endpoints: Pick<ResolvedEndpoints, 'appOnlyScope' | 'delegatedScopes'>,
  protocols: readonly MailProtocol[] = ['imap', 'pop3'],
): string[] {
  if (isAppOnly(authType)) {
    // App-only: `.default` returns every application permission granted (IMAP.AccessAsApp, POP.AccessAsApp).
    return [endpoints.appOnlyScope];
  }
  // offline_access makes the identity platform return a refresh token, so the node survives restarts.
  return [...endpoints.delegatedScopes(protocols), OFFLINE_ACCESS];
}
