import type { AccountConfig } from '../auth/account-config';
import { isAppOnly } from '../auth/account-config';
import { errorFromTransport } from '../auth/diagnose';
import { M365MailError, isM365MailError, type ErrorKind } from '../core/errors';
import { explainAccessToken } from '../auth/token-explainer';
import type { M365TokenProvider } from '../auth/token-provider';
import { listFolders } from '../imap/folders';
import { mailProxy, tunnelFactory } from '../net/proxy';
import { Pop3Client } from '../pop3/client';
import { explainRefusedLogin } from '../auth/refused-login';
import { resolveProxy } from '../net/proxy';
import { toSmtpFailure } from '../smtp/errors';
import { SmtpSession } from '../smtp/smtp-session';

export type ConnectionTestStepName = 'config' | 'token' | 'explain' | 'imap' | 'pop3' | 'smtp' | 'folders';

/** One line of "Test connection": what was tried, and either what was found or how to fix it. */
export interface ConnectionTestStep {
  step: ConnectionTestStepName;
  ok: boolean;
  detail?: string;
  fix?: string;
  kind?: ErrorKind;
}

export interface ConnectionTestOptions {
  config: AccountConfig;
  /** validateAccountConfig(config), done once by the caller (it also decides whether a provider exists). */
  problems: M365MailError[];
  /** Created by the caller for this config; undefined when the config is invalid. */
  provider: M365TokenProvider | undefined;
  /** Mailbox to log in as; empty = the signed-in user (delegated). */
  mailbox: string;
  /** Extra TLS trust for the mail servers (the runtime's NODE_EXTRA_CA_CERTS is used anyway). */
  ca?: string;
  /** Also log in to SMTP submission (the account has m365-mail-out nodes); sends nothing. */
  smtp?: boolean;
  timeoutMs?: number;
  /** Where HTTPS_PROXY/NO_PROXY are read; default process.env. */
  env?: Record<string, string | undefined>;
}

function failed(step: ConnectionTestStepName, error: unknown): ConnectionTestStep {
  const e = isM365MailError(error) ? error : errorFromTransport(error) ?? new M365MailError(error instanceof Error ? error.message : String(error), { kind: 'unknown' });
  return { step, ok: false, detail: e.message, fix: e.fix || undefined, kind: e.kind };
}

function describeExpiry(expiresAt: Date | undefined): string {
  if (!expiresAt) return 'no expiry';
  const minutes = Math.round((expiresAt.getTime() - Date.now()) / 60000);
  return `expires in ${minutes} min`;
}

/**
 * Runs the steps of the editor's "Test connection": token, token explained, IMAP login, POP3 login,
 * SMTP login (EHLO, STARTTLS, AUTH XOAUTH2, QUIT: nothing is sent; only for accounts with senders),
 * folders. Each step runs even when an earlier protocol step failed (IMAP may be disabled while POP
 * works). Nothing returned contains the token or a secret.
 */
export async function runConnectionTest(options: ConnectionTestOptions): Promise<ConnectionTestStep[]> {
  const steps: ConnectionTestStep[] = [];
  const problems = options.problems;
  if (problems.length > 0 || !options.provider) {
    for (const problem of problems) steps.push(failed('config', problem));
    return steps;
  }
  steps.push({ step: 'config', ok: true });
  const provider = options.provider;

  let token: string;
  try {
    token = await provider.getAccessToken('imap');
    steps.push({ step: 'token', ok: true, detail: `${provider.authType} via ${provider.endpoints.authority}` });
  } catch (error) {
    steps.push(failed('token', error));
    return steps;
  }

  const appOnly = isAppOnly(options.config.authType);
  const explanation = explainAccessToken(token, { kind: appOnly ? 'app-only' : 'delegated' });
  const granted = appOnly ? `roles: ${explanation.roles.join(' ') || '(none)'}` : `scopes: ${explanation.scopes.join(' ') || '(none)'}`;
  const summary = `audience ${explanation.audience ?? '?'}, ${granted}, ${describeExpiry(explanation.expiresAt)}${explanation.upn ? `, user ${explanation.upn}` : ''}`;
  if (explanation.problems.length > 0) {
    const first = explanation.problems[0];
    steps.push({ step: 'explain', ok: false, detail: `${summary}. ${explanation.problems.map((p) => p.message).join(' ')}`, fix: first.fix || undefined, kind: first.kind });
  } else {
    steps.push({ step: 'explain', ok: true, detail: summary });
  }

  let mailbox = options.mailbox.trim();
  if (!mailbox && !appOnly) mailbox = (await provider.getAccount())?.username ?? explanation.upn ?? '';
  if (!mailbox) {
    steps.push(failed('imap', new M365MailError('No mailbox to test', { kind: 'config', fix: 'Type the address of a mailbox the app may open, e.g. user@contoso.com.' })));
    return steps;
  }
  const tls = options.ca ? { ca: options.ca } : undefined;
  const timeoutMs = options.timeoutMs ?? 20000;

  // The servers are reached as the readers reach them: the account's proxy, else HTTPS_PROXY/NO_PROXY.
  const { imap, pop3: pop3Endpoint } = provider.endpoints;
  let folderPaths: string[] | undefined;
  try {
    const folders = await listFolders({
      host: imap.host, port: imap.port, mailbox, tokenSource: provider, appOnly,
      tls, proxy: mailProxy(imap.host, imap.port, options.config.proxy, options.env)?.toString(), connectTimeoutMs: timeoutMs,
    });
    folderPaths = folders.map((f) => f.path);
    steps.push({ step: 'imap', ok: true, detail: `${mailbox} on ${provider.endpoints.imap.host}:${provider.endpoints.imap.port}` });
  } catch (error) {
    steps.push(failed('imap', error));
  }

  let pop3: Pop3Client | undefined;
  try {
    const proxy = mailProxy(pop3Endpoint.host, pop3Endpoint.port, options.config.proxy, options.env);
    pop3 = new Pop3Client({ host: pop3Endpoint.host, port: pop3Endpoint.port, ca: options.ca, timeoutMs, socketFactory: proxy ? tunnelFactory(proxy) : undefined });
    pop3.on('error', () => undefined); // failures surface through the awaited commands
    await pop3.connect();
    await pop3.authXOAuth2(mailbox, await provider.getAccessToken('pop3'));
    const { count } = await pop3.stat();
    await pop3.quit();
    steps.push({ step: 'pop3', ok: true, detail: `${mailbox} on ${provider.endpoints.pop3.host}:${provider.endpoints.pop3.port}, ${count} messages` });
  } catch (error) {
    pop3?.close();
    steps.push(failed('pop3', error));
  }

  if (options.smtp) steps.push(await smtpStep(provider, mailbox, appOnly, options));

  if (folderPaths) {
    const shown = folderPaths.slice(0, 25).join(', ');
    steps.push({ step: 'folders', ok: true, detail: `${folderPaths.length} folders: ${shown}${folderPaths.length > 25 ? ', …' : ''}` });
  }
  return steps;
}

/** EHLO, STARTTLS and AUTH XOAUTH2 as the mailbox on the account's SMTP endpoint, then QUIT. */
async function smtpStep(provider: M365TokenProvider, mailbox: string, appOnly: boolean, options: ConnectionTestOptions): Promise<ConnectionTestStep> {
  const { host, port } = provider.endpoints.smtp;
  let token = '';
  try {
    const session = await SmtpSession.start({
      host, port, mailbox, ca: options.ca, connectTimeoutMs: options.timeoutMs ?? 20000,
      proxy: resolveProxy({ host, port, protocol: 'https:' }, options.config.proxy || undefined),
    }, async (renew) => {
      token = await provider.getAccessToken('smtp', { forceRefresh: renew });
      return token;
    });
    session.quit();
    return { step: 'smtp', ok: true, detail: `${mailbox} on ${host}:${port} (STARTTLS, XOAUTH2)` };
  } catch (error) {
    const failure = toSmtpFailure(error, { appOnly, clientId: options.config.clientId });
    const explained = failure.error.kind === 'auth-failed' && token
      ? explainRefusedLogin(failure.error, token, 'smtp', provider.expectedToken?.(), appOnly)
      : failure.error;
    return failed('smtp', explained);
  }
}
