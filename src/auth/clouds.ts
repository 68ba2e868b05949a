/**
 * Endpoints per Microsoft cloud: where to get tokens, where the IMAP, POP3 and SMTP servers are, and
 * which resource the token must be issued for. One table, one row per cloud; `custom` takes
 * everything from the account configuration (used for sovereign setups we don't know and for the
 * local test identity server).
 */
import { MAIL_PROTOCOLS, type MailProtocol } from '../core/protocol';

export type CloudName = 'global' | 'usgov' | 'usdod' | 'china' | 'custom';

export const CLOUD_NAMES: readonly CloudName[] = ['global', 'usgov', 'usdod', 'china', 'custom'];

export interface HostPort {
  host: string;
  port: number;
}

export interface CloudProfile {
  /** Microsoft Entra ID sign-in host, `https://` origin without a path. */
  authorityHost: string;
  imap: HostPort;
  pop3: HostPort;
  /** SMTP submission (STARTTLS). */
  smtp: HostPort;
  /** Resource for delegated IMAP/POP/SMTP scopes (`<resource>/IMAP.AccessAsUser.All`). */
  delegatedResource: string;
  /** Resource for app-only tokens (`<resource>/.default`, carrying IMAP.AccessAsApp / POP.AccessAsApp roles). */
  appOnlyResource: string;
}

export const IMAP_TLS_PORT = 993;
export const POP3_TLS_PORT = 995;
/** SMTP submission with STARTTLS (RFC 6409), the port Exchange Online's client submission listens on. */
export const SMTP_SUBMISSION_PORT = 587;

/**
 * Personal Microsoft accounts (Outlook.com, Hotmail) submit mail at their own host, not at
 * Exchange Online's: https://support.microsoft.com/office/pop-imap-and-smtp-settings-for-outlook-com-d088b986-291d-42b8-9564-9c414e2aa040
 * ("smtp-mail.outlook.com", port 587, STARTTLS). They sign in with the `consumers` tenant, or
 * with the tenant ID of all personal accounts.
 */
export const PERSONAL_SMTP: HostPort = { host: 'smtp-mail.outlook.com', port: SMTP_SUBMISSION_PORT };
const PERSONAL_TENANTS = ['consumers', '9188040d-6c67-4c5b-b112-36a304b66dad'];

/**
 * The known clouds. Sources (checked when this table was written):
 * - authority hosts: https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud
 *   and its 21Vianet edition https://docs.azure.cn/entra/identity-platform/authentication-national-cloud
 *   (China's current host is login.partner.microsoftonline.cn; the older login.chinacloudapi.cn
 *   still answers but the docs name the partner host).
 * - IMAP/POP/SMTP hosts, ports and scopes for the global cloud (SMTP: smtp.office365.com:587,
 *   delegated `https://outlook.office.com/SMTP.Send`, app-only `.default` with SMTP.SendAsApp):
 *   https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
 * - SMTP submission in the sovereign clouds: the endpoint lists of each cloud named in its row.
 *   Those pages could not be re-read when the SMTP hosts were added; a tenant whose submission
 *   host differs picks `custom` and sets smtpHost/smtpPort.
 */
export const CLOUDS: Readonly<Record<Exclude<CloudName, 'custom'>, CloudProfile>> = {
  // Delegated scopes live under outlook.office.com, app-only `.default` under outlook.office365.com,
  // exactly as in Microsoft's "Authenticate an IMAP, POP or SMTP connection using OAuth" article.
  global: {
    authorityHost: 'https://login.microsoftonline.com',
    imap: { host: 'outlook.office365.com', port: IMAP_TLS_PORT },
    pop3: { host: 'outlook.office365.com', port: POP3_TLS_PORT },
    smtp: { host: 'smtp.office365.com', port: SMTP_SUBMISSION_PORT },
    delegatedResource: 'https://outlook.office.com',
    appOnlyResource: 'https://outlook.office365.com',
  },
  // GCC High: sign-in at login.microsoftonline.us (Entra national-cloud page above); Exchange Online
  // at outlook.office365.us, which is also the token resource
  // (https://learn.microsoft.com/microsoft-365/enterprise/microsoft-365-u-s-government-gcc-high-endpoints,
  // Exchange Online PowerShell `-ExchangeEnvironmentName O365USGovGCCHigh`). SMTP client submission
  // at smtp.office365.us:587 (same GCC High endpoints page, Exchange Online rows).
  usgov: {
    authorityHost: 'https://login.microsoftonline.us',
    imap: { host: 'outlook.office365.us', port: IMAP_TLS_PORT },
    pop3: { host: 'outlook.office365.us', port: POP3_TLS_PORT },
    smtp: { host: 'smtp.office365.us', port: SMTP_SUBMISSION_PORT },
    delegatedResource: 'https://outlook.office365.us',
    appOnlyResource: 'https://outlook.office365.us',
  },
  // DoD: same sign-in host as GCC High; Exchange Online at outlook-dod.office365.us
  // (https://learn.microsoft.com/microsoft-365/enterprise/microsoft-365-u-s-government-dod-endpoints,
  // `-ExchangeEnvironmentName O365USGovDoD`). Some tenants are reached at outlook.office365.us too;
  // such users pick `custom` with that host. SMTP client submission at smtp.office365.us:587, shared
  // with GCC High (DoD endpoints page above, Exchange Online rows).
  usdod: {
    authorityHost: 'https://login.microsoftonline.us',
    imap: { host: 'outlook-dod.office365.us', port: IMAP_TLS_PORT },
    pop3: { host: 'outlook-dod.office365.us', port: POP3_TLS_PORT },
    smtp: { host: 'smtp.office365.us', port: SMTP_SUBMISSION_PORT },
    delegatedResource: 'https://outlook-dod.office365.us',
    appOnlyResource: 'https://outlook-dod.office365.us',
  },
  // Microsoft 365 operated by 21Vianet: Exchange Online at partner.outlook.cn
  // (https://learn.microsoft.com/previous-versions/office/office-365-api/api/o365-china-endpoints),
  // sign-in at login.partner.microsoftonline.cn (docs.azure.cn page above); SMTP client submission
  // at smtp.partner.outlook.cn:587 (same 21Vianet endpoints page, Exchange Online rows).
  china: {
    authorityHost: 'https://login.partner.microsoftonline.cn',
    imap: { host: 'partner.outlook.cn', port: IMAP_TLS_PORT },
    pop3: { host: 'partner.outlook.cn', port: POP3_TLS_PORT },
    smtp: { host: 'smtp.partner.outlook.cn', port: SMTP_SUBMISSION_PORT },
    delegatedResource: 'https://partner.outlook.cn',
    appOnlyResource: 'https://partner.outlook.cn',
  },
};

/** What `resolveEndpoints` needs from the account configuration. */
export interface CloudSelection {
  cloud?: CloudName | string;
  tenant: string;
  authorityHost?: string;
  imapHost?: string;
  imapPort?: number | string;
  pop3Host?: string;
  pop3Port?: number | string;
  smtpHost?: string;
  smtpPort?: number | string;
  resource?: string;
}

export interface ResolvedEndpoints {
  cloud: CloudName;
  authorityHost: string;
  /** `<authorityHost>/<tenant>`, as MSAL wants it. */
  authority: string;
  imap: HostPort;
  pop3: HostPort;
  smtp: HostPort;
  delegatedResource: string;
  appOnlyResource: string;
  /** Delegated scopes for the given protocols (no `offline_access`; see scopes.ts). */
  delegatedScopes(protocols: readonly MailProtocol[]): string[];
  appOnlyScope: string;
}

const DELEGATED_PERMISSION: Record<MailProtocol, string> = {
  imap: 'IMAP.AccessAsUser.All',
  pop3: 'POP.AccessAsUser.All',
  smtp: 'SMTP.Send',
};

function trimSlashes(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

function toPort(value: number | string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const port = typeof value === 'number' ? value : Number.parseInt(value, 10);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : fallback;
}

/** Looks up a known cloud; unknown names fall back to `global` (validation reports them). */
export function cloudProfile(cloud: string | undefined): CloudProfile {
  const name = (cloud || 'global') as Exclude<CloudName, 'custom'>;
  return CLOUDS[name] ?? CLOUDS.global;
}

/**
 * Resolves every endpoint the account needs. Known clouds come from the table alone (the editor
 * keeps default host values in the flow, which must not leak into another cloud); `custom` takes
 * authority host, mail hosts, ports and resource as configured, with global defaults for what is
 * left empty.
 */
export function resolveEndpoints(config: CloudSelection): ResolvedEndpoints {
  const cloud: CloudName = CLOUD_NAMES.includes(config.cloud as CloudName) ? (config.cloud as CloudName) : 'global';
  const base = cloud === 'custom' ? CLOUDS.global : CLOUDS[cloud];
  const custom = cloud === 'custom';

  const authorityHost = trimSlashes(custom && config.authorityHost ? config.authorityHost : base.authorityHost);
  const resource = custom && config.resource ? trimSlashes(config.resource) : undefined;
  const delegatedResource = resource ?? base.delegatedResource;
  const appOnlyResource = resource ?? base.appOnlyResource;

  const imap: HostPort = custom
    ? { host: config.imapHost?.trim() || base.imap.host, port: toPort(config.imapPort, base.imap.port) }
    : { ...base.imap };
  const pop3: HostPort = custom
    ? { host: config.pop3Host?.trim() || base.pop3.host, port: toPort(config.pop3Port, base.pop3.port) }
    : { ...base.pop3 };
  const smtp: HostPort = custom
    ? { host: config.smtpHost?.trim() || base.smtp.host, port: toPort(config.smtpPort, base.smtp.port) }
    : cloud === 'global' && PERSONAL_TENANTS.includes(config.tenant.trim().toLowerCase()) ? { ...PERSONAL_SMTP } : { ...base.smtp };

  return {
    cloud,
    authorityHost,
    authority: `${authorityHost}/${config.tenant.trim()}`,
    imap,
    pop3,
    smtp,
    delegatedResource,
    appOnlyResource,
    delegatedScopes(protocols: readonly MailProtocol[]) {
      return MAIL_PROTOCOLS.filter((p) => protocols.includes(p)).map((p) => `${delegatedResource}/${DELEGATED_PERMISSION[p]}`);
    },
    appOnlyScope: `${appOnlyResource}/.default`,
  };
}
