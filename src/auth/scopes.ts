/**
 * Which scopes to ask for. Exchange Online accepts tokens only for its own resource, and the
 * identity platform refuses one request that mixes resources (AADSTS700022/AADSTS70011), so we
 * never add Graph scopes such as User.Read (MSAL itself adds openid and profile, which are fine).
 *
 * A delegated account asks only for the protocols its nodes use (the account's register), so a
 * reader-only account never asks for SMTP.Send and a protocol added to the package later costs no
 * existing user a new consent.
 */
import { isAppOnly, type AuthType } from './account-config';
import type { ResolvedEndpoints } from './clouds';
import type { MailProtocol } from '../core/protocol';

export const OFFLINE_ACCESS = 'offline_access';

/**
 * The protocols asked for while no node has registered with the account (a sign-in from the
 * editor before any reader is deployed, Test connection): the readers', as before SMTP existed.
 */
export const PROTOCOLS_WITHOUT_USERS: readonly MailProtocol[] = ['imap', 'pop3'];

/** The scopes to request for the protocols this account serves. */
export function scopesFor(
  authType: AuthType | undefined,
  endpoints: Pick<ResolvedEndpoints, 'appOnlyScope' | 'delegatedScopes'>,
  protocols: readonly MailProtocol[] = PROTOCOLS_WITHOUT_USERS,
): string[] {
  if (isAppOnly(authType)) {
    // App-only: `.default` returns every application permission granted (IMAP.AccessAsApp,
    // POP.AccessAsApp, SMTP.SendAsApp), whichever protocols are used.
    return [endpoints.appOnlyScope];
  }
  // offline_access makes the identity platform return a refresh token, so the node survives restarts.
  return [...endpoints.delegatedScopes(protocols), OFFLINE_ACCESS];
}
