import { rm } from 'node:fs/promises';
import { LogLevel } from '@azure/msal-node';
import type { Node, NodeAPI } from 'node-red';
import { validateAccountConfig, type AccountConfig, type AccountCredentials } from '../../auth/account-config';
import type { M365MailError } from '../../core/errors';
import { forgetOtherSignIn } from '../../auth/token-cache';
import { createTokenProvider, signInBinding, type M365TokenProvider } from '../../auth/token-provider';
import type { NodeProps } from '../shared/red';
import { cacheSecret, tokenCacheFile } from '../shared/storage';
import { registerAdminRoutes } from './admin-routes';

export interface AccountNode extends Node<AccountCredentials> {
  accountConfig: AccountConfig;
  /** Configuration problems found at start; a reader node refuses to start while any exist. */
  problems: M365MailError[];
  /** The one token source of this account, shared by every reader that uses it. */
  tokenProvider(): M365TokenProvider;
  /** When this node was created (deployed or restarted), ms since epoch. */
  startedAt: number;
}

const PROPERTY_NAMES = ['name', 'cloud', 'authorityHost', 'tenant', 'clientId', 'authType', 'certificateThumbprint',
  'imapHost', 'imapPort', 'pop3Host', 'pop3Port', 'resource', 'proxy'] as const;

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

/** Creates the token provider of an account, with its encrypted sign-in file and Node-RED logging. */
export function createAccountTokenProvider(RED: NodeAPI, accountId: string, config: AccountConfig, log: Pick<Node, 'debug' | 'warn' | 'error' | 'log'>): M365TokenProvider {
  return createTokenProvider(config, {
    cacheFile: tokenCacheFile(RED, accountId),
    cacheSecret: cacheSecret(RED),
    msalLogLevel: msalLogLevelFor(RED),
    logger: {
      debug: (m) => log.debug(m),
      info: (m) => log.log(m),
      warn: (m) => log.warn(m),
      error: (m) => log.error(m),
    },
  });
}

export default function registerAccountNode(RED: NodeAPI): void {
  function M365AccountNode(this: AccountNode, props: NodeProps): void {
    RED.nodes.createNode(this, props);
    this.startedAt = Date.now();
    this.accountConfig = toAccountConfig(props, this.credentials);
    this.problems = validateAccountConfig(this.accountConfig);
    for (const problem of this.problems) this.error(problem.toString());
    const signInFile = tokenCacheFile(RED, this.id);
    if (this.problems.length === 0) {
      // A new client ID, tenant or cloud (or app-only now) makes the stored user sign-in worthless: forget it.
      void forgetOtherSignIn(signInFile, signInBinding(this.accountConfig)).then((forgot) => {
        if (forgot) this.log('Forgot the stored sign-in of the previous app registration, tenant or cloud.');
      });
    }

    let provider: M365TokenProvider | undefined;
    this.tokenProvider = () => {
      // Created on first use, so an unused account makes no requests and a broken one fails where it is used.
      provider ??= createAccountTokenProvider(RED, this.id, this.accountConfig, this);
      return provider;
    };
    this.on('close', (removed: boolean, done: () => void) => {
      provider?.dispose();
      provider = undefined;
      // A deleted account takes its stored sign-in (and refresh token) with it.
      if (removed) rm(signInFile, { force: true }).catch(() => undefined).then(() => done());
      else done();
    });
  }

  // The constructor adds fields to `this`, which registerType's Node type does not know about.
  RED.nodes.registerType('m365-account', M365AccountNode as unknown as Parameters<NodeAPI['nodes']['registerType']>[1], {
    credentials: {
      clientSecret: { type: 'password' },
      privateKey: { type: 'password' },
    },
  });
  registerAdminRoutes(RED);
}
