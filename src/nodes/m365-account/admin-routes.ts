import type { Request, Response } from 'express';
import type { NodeAPI } from 'node-red';
import { isAppOnly, validateAccountConfig, type AccountConfig, type AccountCredentials } from '../../auth/account-config';
import { M365MailError, isM365MailError } from '../../core/errors';
import { bindingId } from '../../auth/token-cache';
import { signInBinding, type M365TokenProvider } from '../../auth/token-provider';
import { runConnectionTest } from '../../diagnostics/connection-test';
import { listFolders } from '../../imap/folders';
import { mailProxy } from '../../net/proxy';
import { createAccountTokenProvider, toAccountConfig, type AccountNode } from './account-node';
import { SignInSessions, withoutSignInSecrets } from './sign-in-sessions';

// The editor sends this in place of a password it never saw: keep the deployed credential.
const UNCHANGED_PASSWORD = '__PWRD__';
const BASE = '/m365-mail';

interface ErrorBody {
  message: string;
  kind: string;
  fix?: string;
}

function errorBody(error: unknown): ErrorBody {
  if (isM365MailError(error)) return { message: error.message, kind: error.kind, fix: error.fix || undefined };
  return { message: error instanceof Error ? error.message : String(error), kind: 'unknown' };
}

const accountIdOf = (req: Request): string => String(req.params.id);

type Middleware = (req: Request, res: Response, next: () => void) => void;

/**
 * Whether Node-RED's permission middleware lets this request through, asked without answering
 * the request: its refusal goes to a stand-in response. Node-RED decides (adminAuth off: yes).
 */
function allows(permission: Middleware, req: Request): Promise<boolean> {
  return new Promise((resolve) => {
    const refused = (): void => resolve(false);
    const standIn: Record<string, unknown> = {};
    for (const method of ['status', 'setHeader', 'header', 'set', 'type']) standIn[method] = () => standIn;
    for (const method of ['end', 'send', 'json', 'sendStatus', 'redirect']) standIn[method] = refused;
    permission(req, standIn as unknown as Response, () => resolve(true));
  });
}

/** Whether two configurations share a stored sign-in (same app registration, tenant and cloud). */
function sameSignIn(a: AccountConfig, b: AccountConfig): boolean {
  const left = signInBinding(a);
  const right = signInBinding(b);
  return left !== undefined && right !== undefined && bindingId(left) === bindingId(right);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Admin endpoints of m365-account, behind Node-RED's editor permissions: Test connection, sign-in
 * (device code, auth code + its redirect), sign-out, and the folder list for the pickers. They
 * work on the editor's unsaved form values, so a user can test before deploying. No answer ever
 * contains a token or a secret.
 */
export function registerAdminRoutes(RED: NodeAPI): void {
  const sessions = new SignInSessions();
  const read = RED.auth.needsPermission('m365-account.read');
  const write = RED.auth.needsPermission('m365-account.write');
  const log = {
    debug: (m: string) => RED.log.debug(m), log: (m: string) => RED.log.info(m), warn: (m: string) => RED.log.warn(m), error: (m: string) => RED.log.error(m),
  } as const;

  const deployed = (id: string): AccountNode | undefined => (RED.nodes.getNode(id) as AccountNode | null) ?? undefined;

  /** The form's settings with unchanged password fields taken from the deployed credentials. */
  function configFrom(id: string, settings: Record<string, unknown> | undefined): AccountConfig {
    if (!settings) {
      const node = deployed(id);
      if (!node) throw new M365MailError('This account is not deployed yet', { kind: 'config', fix: 'Deploy the flow, or use the buttons inside the account\'s edit dialog.' });
      return node.accountConfig;
    }
    const stored = (RED.nodes.getCredentials(id) ?? {}) as AccountCredentials;
    const credential = (name: keyof AccountCredentials): string | undefined => {
      const value = typeof settings[name] === 'string' ? (settings[name] as string) : '';
      return value === UNCHANGED_PASSWORD || value === '' ? stored[name] : value;
    };
    return toAccountConfig(settings, {
      clientSecret: credential('clientSecret'), privateKey: credential('privateKey'),
      proxyUsername: credential('proxyUsername'), proxyPassword: credential('proxyPassword'),
    });
  }

  /** The deployed account's provider when the form matches it, else a provider just for this request. */
  function providerFor(id: string, config: AccountConfig, problems: M365MailError[]): { provider: M365TokenProvider; temporary: boolean } {
    const node = deployed(id);
    if (node && node.problems.length === 0 && JSON.stringify(node.accountConfig) === JSON.stringify(config)) {
      return { provider: node.tokenProvider(), temporary: false };
    }
    const signIn = sessions.providerFor(id, config);
    if (signIn) return { provider: signIn, temporary: false };
    return { provider: createAccountTokenProvider(RED, id, config, log, problems), temporary: true };
  }

  const settingsOf = (req: Request): Record<string, unknown> | undefined => {
    const body = req.body as { settings?: Record<string, unknown> } | undefined;
    return body && typeof body.settings === 'object' && body.settings !== null ? body.settings : undefined;
  };

  RED.httpAdmin.post(`${BASE}/accounts/:id/test`, write, (req: Request, res: Response) => {
    void (async () => {
      const config = configFrom(accountIdOf(req), settingsOf(req));
      const mailbox = typeof req.body?.mailbox === 'string' ? req.body.mailbox : '';
      const problems = validateAccountConfig(config);
      const lease = problems.length === 0 ? providerFor(accountIdOf(req), config, problems) : undefined;
      try {
        // The SMTP login is tested for accounts that send (an m365-mail-out is registered with them).
        const smtp = deployed(accountIdOf(req))?.users.protocols().includes('smtp') ?? false;
        const steps = await runConnectionTest({ config, problems, provider: lease?.provider, mailbox, smtp });
        res.json({ steps });
      } finally {
        if (lease?.temporary) lease.provider.dispose();
      }
    })().catch((error: unknown) => res.status(400).json(errorBody(error)));
  });

  RED.httpAdmin.post(`${BASE}/accounts/:id/sign-in`, write, (req: Request, res: Response) => {
    void (async () => {
      const config = configFrom(accountIdOf(req), settingsOf(req));
      const problems = validateAccountConfig(config);
      if (problems.length > 0) throw problems[0];
      if (isAppOnly(config.authType)) throw new M365MailError('App-only accounts do not sign in a user', { kind: 'config', fix: 'Choose "User: device code" or "User: browser sign-in" as sign-in method.' });
      const provider = createAccountTokenProvider(RED, accountIdOf(req), config, log, problems);
      if (config.authType === 'device-code') {
        res.json(await sessions.startDeviceCode(accountIdOf(req), config, provider));
      } else {
        const origin = typeof req.body?.origin === 'string' ? req.body.origin : '';
        const redirectUri = new URL(`${BASE.slice(1)}/auth-code/callback`, origin.endsWith('/') ? origin : `${origin}/`).toString();
        res.json(await sessions.startAuthCode(accountIdOf(req), config, provider, redirectUri));
      }
    })().catch((error: unknown) => res.status(400).json(errorBody(error)));
  });

  RED.httpAdmin.get(`${BASE}/accounts/:id/sign-in`, read, (req: Request, res: Response) => {
    void (async () => {
      const id = accountIdOf(req);
      const node = deployed(id);
      const usable = node !== undefined && node.problems.length === 0;
      // A pending sign-in's code or URL lets whoever uses it first sign the account in: only a
      // user who may change the account sees it; others learn only that a sign-in is pending.
      const status = sessions.status(id);
      const session = status && status.state === 'pending' && !(await allows(write, req)) ? withoutSignInSecrets(status) : status;
      // A sign-in in progress or just failed is what the editor wants to see. A finished one was
      // made for the form's settings: it speaks for the account until they are deployed (the
      // deployed account still has other ones). Otherwise the deployed account answers from its
      // stored sign-in — which is gone after a sign-out or once another app, tenant or cloud was deployed.
      if (session && (session.state !== 'signed-in' || !usable)) return res.json(session);
      const signedIn = sessions.signedIn(id);
      if (session && node && signedIn && node.startedAt < signedIn.at && !sameSignIn(signedIn.config, node.accountConfig)) return res.json(session);
      if (!node || !usable || isAppOnly(node.accountConfig.authType)) return res.json({ state: 'signed-out' });
      const account = await node.tokenProvider().getAccount();
      return res.json(account ? { state: 'signed-in', username: account.username } : { state: 'signed-out' });
    })().catch((error: unknown) => res.status(400).json(errorBody(error)));
  });

  RED.httpAdmin.post(`${BASE}/accounts/:id/sign-out`, write, (req: Request, res: Response) => {
    void (async () => {
      await sessions.signOut(accountIdOf(req));
      const node = deployed(accountIdOf(req));
      if (node && node.problems.length === 0) await node.tokenProvider().signOut();
      res.json({ state: 'signed-out' });
    })().catch((error: unknown) => res.status(400).json(errorBody(error)));
  });

  // The browser comes back here from the sign-in page: no editor token on this request, so the
  // unguessable `state` of a sign-in started from the editor is what authorises it.
  RED.httpAdmin.get(`${BASE}/auth-code/callback`, (req: Request, res: Response) => {
    const query = Object.fromEntries(Object.entries(req.query).map(([k, v]) => [k, typeof v === 'string' ? v : '']));
    sessions.completeAuthCode(query)
      .then((account) => res.type('html').send(`<!doctype html><meta charset="utf-8"><title>Signed in</title><p id="m365-result">Signed in as ${escapeHtml(account.username)}. You can close this window.</p><script>setTimeout(function(){window.close()},1500)</script>`))
      .catch((error: unknown) => {
        const body = errorBody(error);
        res.status(400).type('html').send(`<!doctype html><meta charset="utf-8"><title>Sign-in failed</title><p id="m365-result">Sign-in failed: ${escapeHtml(body.message)}</p><p>${escapeHtml(body.fix ?? '')}</p>`);
      });
  });

  /** The folders of a mailbox for the editor's folder pickers. */
  async function folderList(id: string, settings: Record<string, unknown> | undefined, requested: unknown): Promise<Array<{ path: string; name: string }>> {
    const config = configFrom(id, settings);
    const problems = validateAccountConfig(config);
    if (problems.length > 0) throw problems[0];
    const lease = providerFor(id, config, problems);
    try {
      const provider = lease.provider;
      let mailbox = typeof requested === 'string' ? requested.trim() : '';
      if (!mailbox && !isAppOnly(config.authType)) mailbox = (await provider.getAccount())?.username ?? '';
      if (!mailbox) throw new M365MailError('No mailbox given', { kind: 'config', fix: 'Enter the mailbox address first.' });
      const folders = await listFolders({
        host: provider.endpoints.imap.host, port: provider.endpoints.imap.port, mailbox, tokenSource: provider,
        // Reached as the readers reach it: the account's proxy, else HTTPS_PROXY/NO_PROXY.
        appOnly: isAppOnly(config.authType), proxy: mailProxy(provider.endpoints.imap.host, provider.endpoints.imap.port, config.proxy)?.toString(),
      });
      return folders.map((f) => ({ path: f.path, name: f.name }));
    } finally {
      if (lease.temporary) lease.provider.dispose();
    }
  }

  // The deployed account's folders. Write permission, as for every call that uses the account's
  // credentials: a read-only user must not list the folders of any mailbox the app may open.
  RED.httpAdmin.get(`${BASE}/accounts/:id/folders`, write, (req: Request, res: Response) => {
    folderList(accountIdOf(req), undefined, req.query.mailbox)
      .then((folders) => res.json({ folders }), (error: unknown) => res.status(400).json(errorBody(error)));
  });

  // With the editor's settings, deployed or not (write permission, like Test connection: the
  // settings choose the hosts the stored credentials are used with).
  RED.httpAdmin.post(`${BASE}/accounts/:id/folders`, write, (req: Request, res: Response) => {
    folderList(accountIdOf(req), settingsOf(req), req.body?.mailbox)
      .then((folders) => res.json({ folders }), (error: unknown) => res.status(400).json(errorBody(error)));
  });
}
