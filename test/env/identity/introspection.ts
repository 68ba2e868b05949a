/**
 * Token introspection for Dovecot's oauth2 passdb, Exchange Online's stand-in: decides whether an
 * access token may open a mailbox the way Exchange does (audience, delegated scope + FullAccess,
 * or app role + Exchange service principal + mailbox permission). For reading, which protocol
 * (IMAP or POP) the login is for is unknown here, so either protocol's permission is enough;
 * SMTP submission logins come through a passdb of their own and need the SMTP permission
 * (delegated SMTP.Send, app-only SMTP.SendAsApp), as Exchange demands.
 */
import type { IdentityContext } from './context';

const EXCHANGE_AUDIENCES = ['https://outlook.office.com', 'https://outlook.office365.com'];
const NOT_CONNECTED = 'User is authenticated but not connected.';

/** What the login is for: reading mail (IMAP/POP) or sending it (SMTP submission). */
export type IntrospectionService = 'mail' | 'smtp';

const PERMISSIONS: Record<IntrospectionService, { scopes: string[]; roles: string[] }> = {
  mail: { scopes: ['IMAP.AccessAsUser.All', 'POP.AccessAsUser.All'], roles: ['IMAP.AccessAsApp', 'POP.AccessAsApp'] },
  smtp: { scopes: ['SMTP.Send'], roles: ['SMTP.SendAsApp'] },
};

export type IntrospectionResult = { active: true; username: string } | { active: false; reason: string };

/** Decides whether `token` opens `mailbox` for `service`. */
export function introspect(ctx: IdentityContext, token: string, mailbox: string, service: IntrospectionService = 'mail'): IntrospectionResult {
  const wanted = PERMISSIONS[service];
  const inactive = (reason: string): IntrospectionResult => ({ active: false, reason });
  if (!token) return inactive('no token');
  const claims = ctx.issuer.verifyOwn(token);
  if (!claims) return inactive('token signature is not valid (not issued by this identity server)');
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.exp !== 'number' || claims.exp <= now) return inactive('token expired');
  if (typeof claims.nbf === 'number' && claims.nbf > now + 300) return inactive('token not yet valid');
  const tid = typeof claims.tid === 'string' ? claims.tid : '';
  if (claims.iss !== ctx.issuer.issuer(tid)) return inactive(`unexpected issuer ${String(claims.iss)}`);
  const aud = String(claims.aud);
  if (!EXCHANGE_AUDIENCES.includes(aud)) {
    return inactive(`wrong audience ${aud}: Exchange Online accepts only https://outlook.office.com or https://outlook.office365.com`);
  }
  const owner = ctx.directory.findUser(mailbox);
  if (!owner || !owner.hasMailbox) return inactive(`mailbox ${mailbox} not found`);
  if (owner.tenantId !== tid) return inactive(`token is for tenant ${tid}, mailbox ${mailbox} is in another tenant`);
  const ok: IntrospectionResult = { active: true, username: mailbox };

  if (typeof claims.scp === 'string') {
    const scopes = claims.scp.split(' ');
    if (!wanted.scopes.some((s) => scopes.includes(s))) {
      return inactive(`token has no ${wanted.scopes.join(' or ')} scope (scp: ${claims.scp})`);
    }
    const upn = String(claims.upn ?? claims.preferred_username ?? '');
    if (upn.toLowerCase() === mailbox.toLowerCase()) return ok;
    if (ctx.directory.hasMailboxAccess(upn, mailbox)) return ok;
    return inactive(`${upn} has no FullAccess permission on mailbox ${mailbox}`);
  }
  const roles = Array.isArray(claims.roles) ? claims.roles.map(String) : [];
  if (roles.length === 0) return inactive(`app-only token without roles: grant ${wanted.roles.join(' / ')} with admin consent`);
  if (!wanted.roles.some((r) => roles.includes(r))) return inactive(`token roles ${roles.join(',')} do not include ${wanted.roles.join(' or ')}`);
  const appId = String(claims.appid ?? claims.azp ?? '');
  const app = ctx.directory.findApp(appId);
  if (!app || !app.exchangeServicePrincipal) {
    return inactive(`${NOT_CONNECTED} (no Exchange service principal registered for app ${appId})`);
  }
  if (!ctx.directory.hasMailboxAccess(appId, mailbox)) {
    return inactive(`${NOT_CONNECTED} (app ${appId} has no permission on mailbox ${mailbox})`);
  }
  return ok;
}
