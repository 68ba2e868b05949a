import type { Node, NodeAPI } from 'node-red';
import { validateAccountConfig, type AccountConfig, type AccountCredentials } from '../../auth/account-config';
import type { M365MailError } from '../../auth/errors';
import type { NodeProps } from '../shared/red';

export interface AccountNode extends Node<AccountCredentials> {
  accountConfig: AccountConfig;
  /** Configuration problems found at start; a reader node refuses to start while any exist. */
  problems: M365MailError[];
}

/** Flow properties + credentials → the auth library's typed configuration. */
function toAccountConfig(props: NodeProps, credentials: AccountCredentials | undefined): AccountConfig {
  const text = (key: string): string => (props[key] === undefined || props[key] === null ? '' : String(props[key]).trim());
  return {
    name: text('name'),
    cloud: (text('cloud') || 'global') as AccountConfig['cloud'],
    authorityHost: text('authorityHost'),
    tenant: text('tenant'),
    clientId: text('clientId'),
    authType: (text('authType') || 'client-secret') as AccountConfig['authType'],
    certificateThumbprint: text('certificateThumbprint'),
    imapHost: text('imapHost'),
    imapPort: text('imapPort'),
    pop3Host: text('pop3Host'),
    pop3Port: text('pop3Port'),
    resource: text('resource'),
    proxy: text('proxy'),
    credentials: { clientSecret: credentials?.clientSecret, privateKey: credentials?.privateKey },
  };
}

export default function registerAccountNode(RED: NodeAPI): void {
  function M365AccountNode(this: AccountNode, props: NodeProps): void {
    RED.nodes.createNode(this, props);
    this.accountConfig = toAccountConfig(props, this.credentials);
    this.problems = validateAccountConfig(this.accountConfig);
    for (const problem of this.problems) this.error(problem.toString());
  }

  RED.nodes.registerType('m365-account', M365AccountNode, {
    credentials: {
      clientSecret: { type: 'password' },
      privateKey: { type: 'password' },
    },
  });
}
