/**
 * Proxy user and password belong in the account's credentials, not in the `proxy` property that
 * flows.json, exports and project commits carry. Old flows kept them in the URL: at load they are
 * moved into the credentials, and the runtime's copy of the flow (what the editor loads, exports
 * and deploys back) loses them, so the flow file is clean after the next deploy.
 */
import type { NodeAPI } from 'node-red';
import { splitProxyCredentials, type AccountCredentials } from '../../auth/account-config';
import type { NodeProps } from '../shared/red';

export const ACCOUNT_CREDENTIALS = {
  clientSecret: { type: 'password' },
  privateKey: { type: 'password' },
  proxyUsername: { type: 'text' },
  proxyPassword: { type: 'password' },
} as const;

interface CredentialHolder {
  id: string;
  credentials: AccountCredentials;
  warn(text: string): void;
}

/** The props with a plain proxy URL; user and password found in it are now the node's credentials. */
export function moveProxyCredentials(RED: NodeAPI, node: CredentialHolder, props: NodeProps): NodeProps {
  const split = splitProxyCredentials(typeof props.proxy === 'string' ? props.proxy : '');
  if (split.username === undefined && split.password === undefined) return props;
  const credentials = { ...node.credentials };
  // Credentials typed in the editor win over the URL's.
  if (!credentials.proxyUsername && !credentials.proxyPassword) {
    credentials.proxyUsername = split.username ?? '';
    credentials.proxyPassword = split.password ?? '';
    node.credentials = credentials;
    void Promise.resolve(RED.nodes.addCredentials(node.id, credentials as Record<string, unknown>)).catch(() => undefined);
  }
  node.warn('The proxy user and password were moved from the proxy URL into the account\'s credentials. Deploy once to remove them from the flow file.');
  return { ...props, proxy: split.proxy };
}

/** Removes user info from the proxy URL of every m365-account in a flow configuration (in place). */
export function stripProxyUserInfo(flows: unknown): void {
  if (!Array.isArray(flows)) return;
  for (const entry of flows as Array<Record<string, unknown>>) {
    if (entry?.type !== 'm365-account' || typeof entry.proxy !== 'string') continue;
    const split = splitProxyCredentials(entry.proxy);
    if (split.username !== undefined || split.password !== undefined) entry.proxy = split.proxy;
  }
}

const watched = new WeakSet<object>();

/**
 * Once the flows are started (every account has taken its credentials), the runtime's active flow
 * configuration — what GET /flows gives the editor and what the next deploy writes — drops them.
 */
export function stripProxyUserInfoFromActiveFlows(RED: NodeAPI): void {
  const events = (RED as unknown as { events?: { on(name: string, listener: (event: unknown) => void): void } }).events;
  if (!events || watched.has(events)) return;
  watched.add(events);
  events.on('flows:started', (event) => stripProxyUserInfo((event as { config?: { flows?: unknown } } | undefined)?.config?.flows));
}
