/**
 * What the account node is to the rest of the package (its interface, its flow properties read
 * into an AccountConfig, its token provider), apart from the node's registration, so the admin
 * routes and the readers use it without importing the runtime that registers those routes.
 */
import { LogLevel } from '@azure/msal-node';
import type { Node, NodeAPI } from 'node-red';
import { proxyWithCredentials, type AccountConfig, type AccountCredentials } from '../../auth/account-config';
import type { M365MailError } from '../../core/errors';
import { createTokenProvider, type M365TokenProvider } from '../../auth/token-provider';
import { cacheSecret, tokenCacheFile } from '../shared/storage';
import type { AccountUser, AccountUsers } from './users';

export interface AccountNode extends Node<AccountCredentials> {
  accountConfig: AccountConfig;
  /** Configuration problems found at start; a reader node refuses to start while any exist. */
  problems: M365MailError[];
  /** The one token source of this account, shared by every reader that uses it. */
  tokenProvider(): M365TokenProvider;
  /** When this node was created (deployed or restarted), ms since epoch. */
  startedAt: number;
  /** Adds a node to the account's register (see users.ts): its protocols, sign-in and sign-out pushes. */
  register(user: AccountUser): void;
  /** Takes a node off the register; calls `done` (a close handler's) when that is finished. */
  deregister(user: AccountUser, done?: () => void): void;
  /** The register; the token provider reads its protocols, sign-ins are pushed through it. */
  users: AccountUsers;
}

const PROPERTY_NAMES = ['name', 'cloud', 'authorityHost', 'tenant', 'clientId', 'authType', 'certificateThumbprint',
  'imapHost', 'imapPort', 'pop3Host', 'pop3Port', 'smtpHost', 'smtpPort', 'resource', 'proxy'] as const;

/** Flow properties (or the editor's unsaved form) + credentials → the auth library's typed configuration. */
export function toAccountConfig(props: Record<string, unknown>, credentials: AccountCredentials | undefined): AccountConfig {
  const values: Record<string, string> = {};
  for (const name of PROPERTY_NAMES) values[name] = props[name] === undefined || props[name] === null ? '' : String(props[name]).trim();
  return {
    ...values,
    cloud: (values.cloud || 'global') as AccountConfig['cloud'],
    authType: (values.authType || 'client-secret') as AccountConfig['authType'],
    tenant: values.tenant,
    clientId: values.clientId,
    // The connections get the proxy user and password (node credentials) inside the proxy URL.
    proxy: proxyWithCredentials(values.proxy, credentials?.proxyUsername || undefined, credentials?.proxyPassword || undefined),
    credentials: { clientSecret: credentials?.clientSecret || undefined, privateKey: credentials?.privateKey || undefined },
  };
}

/**
 * MSAL's own log detail follows Node-RED's console log level, so `trace` (or `debug`) in settings.js
 * also shows what MSAL does; MSAL's PII logging stays off whatever the level.
 */
export function msalLogLevelFor(RED: NodeAPI): LogLevel {
  const logging = (RED.settings as unknown as { logging?: { console?: { level?: unknown } } }).logging;
  const level = logging?.console?.level;
  if (level === 'trace') return LogLevel.Verbose;
  if (level === 'debug') return LogLevel.Info;
  return LogLevel.Warning;
}

/**
 * Creates the token provider of an account, with its encrypted sign-in file and Node-RED logging.
 * Also the providers of sign-ins started from the editor: all of them ask for the protocols of the
 * deployed account's registered nodes, and push a finished sign-in or a sign-out to those nodes.
 */
export function createAccountTokenProvider(RED: NodeAPI, accountId: string, config: AccountConfig, log: Pick<Node, 'debug' | 'warn' | 'error' | 'log'>, problems?: M365MailError[]): M365TokenProvider {
  const deployedUsers = (): AccountUsers | undefined => (RED.nodes.getNode(accountId) as AccountNode | null)?.users;
  return createTokenProvider(config, {
    cacheFile: tokenCacheFile(RED, accountId),
    cacheSecret: cacheSecret(RED),
    msalLogLevel: msalLogLevelFor(RED),
    protocols: () => deployedUsers()?.protocols() ?? [],
    onSignInChange: (account) => deployedUsers()?.signInChanged(account),
    logger: {
      debug: (m) => log.debug(m),
      info: (m) => log.log(m),
      warn: (m) => log.warn(m),
      error: (m) => log.error(m),
    },
  }, problems);
}
