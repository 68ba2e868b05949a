import type { EditorRED } from 'node-red';

declare const RED: EditorRED;

/** The m365-account settings the runtime's admin endpoints take from the editor (credentials included). */
export const ACCOUNT_SETTING_NAMES = ['cloud', 'authorityHost', 'tenant', 'clientId', 'authType', 'certificateThumbprint', 'imapHost', 'imapPort',
  'pop3Host', 'pop3Port', 'smtpHost', 'smtpPort', 'resource', 'proxy', 'clientSecret', 'privateKey',
  'proxyUsername', 'proxyPassword'] as const;

const CREDENTIAL_NAMES: ReadonlySet<string> = new Set(['clientSecret', 'privateKey', 'proxyUsername', 'proxyPassword']);

/**
 * The settings of the m365-account config node `id` as the editor holds them, saved or not yet
 * deployed. A credential the user did not type in this session is sent empty: the runtime then
 * uses the deployed one. Undefined when the editor has no such node.
 */
export function editorAccountSettings(id: string): Record<string, string> | undefined {
  const node = RED.nodes.node(id) as unknown as (Record<string, unknown> & { credentials?: Record<string, unknown> }) | null;
  if (!node) return undefined;
  return Object.fromEntries(ACCOUNT_SETTING_NAMES.map((name) => {
    const value = CREDENTIAL_NAMES.has(name) ? node.credentials?.[name] : node[name];
    return [name, typeof value === 'string' ? value : ''];
  }));
}
