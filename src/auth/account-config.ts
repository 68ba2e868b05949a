/**
 * The `m365-account` configuration as the auth library sees it (the properties of CONTRACT.md
 * plus the Node-RED credentials), and its validation. Validation runs before any network traffic
 * so that a typo shows up as a clear message in the editor, not as an AADSTS code later.
 */
import { createPrivateKey } from 'node:crypto';
import { CLOUD_NAMES, type CloudName, type CloudSelection } from './clouds';
import { GUID_PATTERN, MULTI_TENANT_ALIASES } from '../config/identifiers';
import { M365MailError } from '../core/errors';

export { MULTI_TENANT_ALIASES };

export type AuthType = 'client-secret' | 'client-certificate' | 'device-code' | 'auth-code';

export const AUTH_TYPES: readonly AuthType[] = ['client-secret', 'client-certificate', 'device-code', 'auth-code'];

export interface AccountCredentials {
  /** The client secret *Value* (not the Secret ID). */
  clientSecret?: string;
  /** PEM private key of the certificate registered on the app. */
  privateKey?: string;
  /** User and password of the outbound proxy; the `proxy` URL property carries none. */
  proxyUsername?: string;
  proxyPassword?: string;
}

/** The account node's settings; its endpoint fields are those `resolveEndpoints` reads. */
export interface AccountConfig extends CloudSelection {
  name?: string;
  cloud?: CloudName;
  authorityHost?: string;
  tenant: string;
  clientId: string;
  authType?: AuthType;
  certificateThumbprint?: string;
  proxy?: string;
  credentials?: AccountCredentials;
}

// A DNS name with at least two labels, e.g. contoso.onmicrosoft.com.
const DOMAIN = /^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

export function isGuid(value: string): boolean {
  return GUID_PATTERN.test(value.trim());
}

/** App-only flows act as the application itself; they have no signed-in user. */
export function isAppOnly(authType: AuthType | undefined): boolean {
  return (authType ?? 'client-secret') === 'client-secret' || authType === 'client-certificate';
}

export interface NormalizedThumbprint {
  algorithm: 'sha256' | 'sha1';
  /** Upper-case hex without separators, as MSAL wants it. */
  hex: string;
}

/**
 * Accepts a thumbprint as copied from the portal, PowerShell or openssl: colons, spaces and case
 * don't matter. Returns undefined when it is neither SHA-256 (64 hex) nor SHA-1 (40 hex).
 */
export function normalizeThumbprint(thumbprint: string | undefined): NormalizedThumbprint | undefined {
  const hex = (thumbprint ?? '').replace(/[\s:]/g, '').toUpperCase();
  if (!/^[0-9A-F]+$/.test(hex)) return undefined;
  if (hex.length === 64) return { algorithm: 'sha256', hex };
  if (hex.length === 40) return { algorithm: 'sha1', hex };
  return undefined;
}

function configError(message: string, fix: string): M365MailError {
  return new M365MailError(message, { kind: 'config', fix });
}

function validPort(value: number | string | undefined): boolean {
  if (value === undefined || value === '') return true; // empty = default
  const port = typeof value === 'number' ? value : Number(value);
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

function validatePrivateKey(pem: string | undefined): M365MailError | undefined {
  if (!pem || !pem.trim()) {
    return configError('The certificate private key is missing.',
      'Paste the PEM private key (-----BEGIN PRIVATE KEY----- …) of the certificate you uploaded to the app registration.');
  }
  if (/ENCRYPTED PRIVATE KEY|Proc-Type: 4,ENCRYPTED/.test(pem)) {
    return configError('The certificate private key is encrypted with a passphrase.',
      'Export it without a passphrase, e.g. `openssl pkey -in key.pem -out plain-key.pem`, and paste that.');
  }
  if (!/-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/.test(pem)) {
    return configError('The certificate private key is not a PEM private key.',
      'Paste the PEM private key (starting with -----BEGIN PRIVATE KEY-----), not the certificate (-----BEGIN CERTIFICATE-----) or a .pfx file.');
  }
  try {
    createPrivateKey(pem);
  } catch {
    return configError('The certificate private key could not be read.',
      'Paste the complete PEM block including the BEGIN and END lines.');
  }
  return undefined;
}

/** Validates a proxy URL; empty means "use HTTPS_PROXY/NO_PROXY from the environment". */
export function validateProxyUrl(proxy: string | undefined): M365MailError | undefined {
  if (!proxy || !proxy.trim()) return undefined;
  let url: URL;
  try {
    url = new URL(proxy.trim());
  } catch {
    return configError(`The proxy "${redactUrl(proxy)}" is not a URL.`,
      'Enter it as http://host:port (a user and password go into Proxy user / Proxy password), or leave it empty to use HTTPS_PROXY.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return configError(`The proxy scheme "${url.protocol}" is not supported.`,
      'Use an HTTP proxy that supports CONNECT: http://host:port or https://host:port.');
  }
  if (!url.hostname) {
    return configError('The proxy URL has no host.', 'Enter it as http://host:port.');
  }
  return undefined;
}

/**
 * A proxy URL split into the URL without user info and the user and password it carried (decoded).
 * Old flows kept them in the `proxy` property; they belong in the node's credentials.
 */
export function splitProxyCredentials(proxy: string): { proxy: string; username?: string; password?: string } {
  let url: URL;
  try {
    url = new URL(proxy.trim());
  } catch {
    return { proxy };
  }
  if (!url.username && !url.password) return { proxy };
  const decode = (value: string): string => {
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  };
  const username = url.username ? decode(url.username) : undefined;
  const password = url.password ? decode(url.password) : undefined;
  url.username = '';
  url.password = '';
  return { proxy: url.toString(), username, password };
}

/** The proxy URL the connections use: the `proxy` property with the credentials' user and password put in. */
export function proxyWithCredentials(proxy: string, username: string | undefined, password: string | undefined): string {
  if (!proxy.trim() || (!username && !password)) return proxy;
  let url: URL;
  try {
    url = new URL(proxy.trim());
  } catch {
    return proxy; // reported by validateProxyUrl
  }
  if (url.username || url.password) return proxy; // an old flow's own user info, not moved yet
  // Encoded in full, so any character survives the proxy's Basic authorization (openTunnel decodes).
  url.username = encodeURIComponent(username ?? '');
  url.password = encodeURIComponent(password ?? '');
  return url.toString();
}

/** A URL for display: user and password replaced. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.username || url.password) {
      url.username = url.username ? '***' : '';
      url.password = url.password ? '***' : '';
    }
    return url.toString();
  } catch {
    return value.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/**
 * Checks the configuration without touching the network. Returns every problem found (empty list
 * = valid), each an M365MailError of kind 'config' with a fix text. Secrets never appear in it.
 */
export function validateAccountConfig(config: AccountConfig): M365MailError[] {
  const problems: M365MailError[] = [];
  const authType = config.authType ?? 'client-secret';
  const cloud = config.cloud ?? 'global';
  const tenant = (config.tenant ?? '').trim();

  if (!CLOUD_NAMES.includes(cloud)) {
    problems.push(configError(`Unknown cloud "${cloud}".`, `Choose one of: ${CLOUD_NAMES.join(', ')}.`));
  }
  if (!AUTH_TYPES.includes(authType)) {
    problems.push(configError(`Unknown authentication type "${authType}".`, `Choose one of: ${AUTH_TYPES.join(', ')}.`));
  }

  if (!tenant) {
    problems.push(configError('The tenant is missing.',
      'Enter your Directory (tenant) ID from Microsoft Entra admin center → Overview, or a verified domain such as contoso.onmicrosoft.com.'));
  } else if ((MULTI_TENANT_ALIASES as readonly string[]).includes(tenant.toLowerCase())) {
    if (isAppOnly(authType)) {
      problems.push(configError(`The tenant "${tenant}" cannot be used with ${authType}.`,
        'App-only needs your tenant ID or domain: enter the Directory (tenant) ID from Microsoft Entra admin center → Overview, or a verified domain such as contoso.onmicrosoft.com.'));
    }
  } else if (!isGuid(tenant) && !DOMAIN.test(tenant)) {
    problems.push(configError(`The tenant "${tenant}" is neither a tenant ID (GUID) nor a domain.`,
      'Enter the Directory (tenant) ID from Microsoft Entra admin center → Overview (a GUID), a verified domain such as contoso.onmicrosoft.com, or organizations/common for delegated sign-in.'));
  }

  const clientId = (config.clientId ?? '').trim();
  if (!clientId) {
    problems.push(configError('The client ID is missing.',
      'Enter the Application (client) ID from Microsoft Entra admin center → App registrations → your app → Overview.'));
  } else if (!isGuid(clientId)) {
    problems.push(configError(`The client ID "${clientId}" is not a GUID.`,
      'Copy the Application (client) ID (a GUID like 00000000-0000-0000-0000-000000000000) from the app registration\'s Overview page; not the app name or the Object ID.'));
  }

  if (authType === 'client-secret') {
    const secret = config.credentials?.clientSecret ?? '';
    if (!secret.trim()) {
      problems.push(configError('The client secret is missing.',
        'Under App registrations → your app → Certificates & secrets, create a secret and copy its *Value* (shown only once), not the Secret ID.'));
    } else if (isGuid(secret)) {
      // The portal shows the Secret ID as a GUID next to the value; secrets themselves never look like one.
      problems.push(configError('The client secret looks like a Secret ID (a GUID).',
        'Copy the secret *Value*, not the Secret ID. If the value is no longer visible, create a new secret.'));
    }
  }

  if (authType === 'client-certificate') {
    const thumbprint = normalizeThumbprint(config.certificateThumbprint);
    if (!config.certificateThumbprint?.trim()) {
      problems.push(configError('The certificate thumbprint is missing.',
        'Enter the certificate\'s SHA-256 thumbprint in hex, e.g. from `openssl x509 -in cert.pem -noout -fingerprint -sha256` (SHA-1 as shown in the portal is accepted too).'));
    } else if (!thumbprint) {
      problems.push(configError('The certificate thumbprint is not a SHA-256 (64 hex digits) or SHA-1 (40 hex digits) thumbprint.',
        'Copy it again: `openssl x509 -in cert.pem -noout -fingerprint -sha256`; colons and spaces are fine.'));
    }
    const keyProblem = validatePrivateKey(config.credentials?.privateKey);
    if (keyProblem) problems.push(keyProblem);
  }

  if (cloud === 'custom') {
    const host = (config.authorityHost ?? '').trim();
    let parsed: URL | undefined;
    try {
      parsed = host ? new URL(host) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.protocol !== 'https:') {
      problems.push(configError('A custom cloud needs an https authority host.',
        'Enter the sign-in host as https://host (for example https://login.microsoftonline.us), without the tenant.'));
    } else if (parsed.pathname !== '/' && parsed.pathname !== '') {
      problems.push(configError('The authority host must not contain a path.',
        'Enter only https://host[:port]; the tenant is added from the Tenant field.'));
    }
    if (config.resource && !/^https:\/\/[^/\s]+\/?$/.test(config.resource.trim())) {
      problems.push(configError('The resource must be an https origin such as https://outlook.office365.us.',
        'Enter the Exchange Online resource of your cloud, without a path or scope.'));
    }
  }

  for (const [label, value] of [['IMAP port', config.imapPort], ['POP3 port', config.pop3Port], ['SMTP port', config.smtpPort]] as const) {
    if (!validPort(value)) {
      problems.push(configError(`The ${label} "${value}" is not a port number.`, 'Use a number from 1 to 65535 (IMAP over TLS: 993, POP3 over TLS: 995, SMTP submission: 587).'));
    }
  }

  const proxyProblem = validateProxyUrl(config.proxy);
  if (proxyProblem) problems.push(proxyProblem);

  return problems;
}
