import { rm } from 'node:fs/promises';
import type { NodeAPI } from 'node-red';
import { validateAccountConfig } from '../../auth/account-config';
import type { M365MailError } from '../../core/errors';
import { forgetOtherSignIn } from '../../auth/token-cache';
import { signInBinding, type M365TokenProvider } from '../../auth/token-provider';
import type { NodeProps } from '../shared/red';
import { tokenCacheFile } from '../shared/storage';
import { createAccountTokenProvider, toAccountConfig, type AccountNode } from './account-node';
import { registerAdminRoutes } from './admin-routes';
import { ACCOUNT_CREDENTIALS, moveProxyCredentials, stripProxyUserInfoFromActiveFlows } from './proxy-credentials';
import { AccountUsers } from './users';

export type { AccountNode } from './account-node';

export default function registerAccountNode(RED: NodeAPI): void {
  function M365AccountNode(this: AccountNode, props: NodeProps): void {
    RED.nodes.createNode(this, props);
    this.startedAt = Date.now();
    this.users = new AccountUsers();
    this.register = (user) => this.users.register(user);
    this.deregister = (user, done) => this.users.deregister(user, done);
    this.accountConfig = toAccountConfig(moveProxyCredentials(RED, this, props), this.credentials);
    this.problems = validateAccountConfig(this.accountConfig);
    let signInFile: string | undefined;
    try {
      signInFile = tokenCacheFile(RED, this.id);
    } catch (error) {
      // The state folder cannot be created: a problem of this account (readers show it), not an exit.
      this.problems.push(error as M365MailError);
    }
    for (const problem of this.problems) this.error(problem.toString());
    if (this.problems.length === 0 && signInFile) {
      // A new client ID, tenant or cloud (or app-only now) makes the stored user sign-in worthless: forget it.
      forgetOtherSignIn(signInFile, signInBinding(this.accountConfig)).then((forgot) => {
        if (forgot) this.log('Forgot the stored sign-in of the previous app registration, tenant or cloud.');
      }, (error: unknown) => this.warn(String(error)));
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
      if (removed && signInFile) rm(signInFile, { force: true }).catch(() => undefined).then(() => done());
      else done();
    });
  }

  // The constructor adds fields to `this`, which registerType's Node type does not know about.
  RED.nodes.registerType('m365-account', M365AccountNode as unknown as Parameters<NodeAPI['nodes']['registerType']>[1], {
    credentials: ACCOUNT_CREDENTIALS,
  });
  stripProxyUserInfoFromActiveFlows(RED);
  registerAdminRoutes(RED);
}
