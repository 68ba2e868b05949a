import type { AccountConfig } from '../../auth/account-config';
import { isM365MailError, M365MailError } from '../../core/errors';
import type { AuthCodeResponse, M365TokenProvider, SignedInAccount } from '../../auth/token-provider';

export interface SignInStatus {
  state: 'pending' | 'signed-in' | 'failed' | 'signed-out';
  username?: string;
  userCode?: string;
  verificationUri?: string;
  message?: string;
  url?: string;
  error?: string;
  fix?: string;
}

/** What a user who may not change the account learns of a pending sign-in: that it is pending. */
export function withoutSignInSecrets(status: SignInStatus): SignInStatus {
  return { state: status.state };
}

interface Session {
  config: AccountConfig;
  configKey: string;
  /** When the sign-in succeeded (ms since epoch). */
  signedInAt?: number;
  provider: M365TokenProvider;
  status: SignInStatus;
  authState?: string;
  cancel?: () => void;
}

// A finished sign-in stays reportable for a while, then its provider is released.
const KEEP_FINISHED_MS = 10 * 60 * 1000;

/**
 * Sign-ins started from the editor, one per account node id. The provider writes the signed-in
 * account to the account's encrypted token file, where the deployed node finds it.
 */
export class SignInSessions {
  private readonly sessions = new Map<string, Session>();

  async startDeviceCode(accountId: string, config: AccountConfig, provider: M365TokenProvider): Promise<SignInStatus> {
    this.drop(accountId);
    const started = await provider.startDeviceCode();
    const session: Session = {
      config, configKey: JSON.stringify(config), provider,
      status: { state: 'pending', userCode: started.userCode, verificationUri: started.verificationUri, message: started.message },
      cancel: () => started.cancel(),
    };
    this.sessions.set(accountId, session);
    started.completion.then(
      (account) => this.finish(accountId, session, account),
      (error: unknown) => this.fail(accountId, session, error),
    );
    return session.status;
  }

  async startAuthCode(accountId: string, config: AccountConfig, provider: M365TokenProvider, redirectUri: string): Promise<SignInStatus> {
    this.drop(accountId);
    const started = await provider.startAuthCode(redirectUri);
    const session: Session = { config, configKey: JSON.stringify(config), provider, status: { state: 'pending', url: started.url }, authState: started.state };
    this.sessions.set(accountId, session);
    return session.status;
  }

  async completeAuthCode(query: AuthCodeResponse): Promise<SignedInAccount> {
    const entry = [...this.sessions.entries()].find(([, s]) => s.authState !== undefined && s.authState === query.state);
    if (!entry) {
      throw new M365MailError('This sign-in was not started here or has expired (state mismatch).', { kind: 'sign-in-expired', fix: 'Press "Sign in" in the account\'s edit dialog again.' });
    }
    const [accountId, session] = entry;
    try {
      const account = await session.provider.completeAuthCode(query);
      this.finish(accountId, session, account);
      return account;
    } catch (error) {
      this.fail(accountId, session, error);
      throw error;
    }
  }

  status(accountId: string): SignInStatus | undefined {
    return this.sessions.get(accountId)?.status;
  }

  /** The configuration and time of this account's finished sign-in, if it succeeded. */
  signedIn(accountId: string): { config: AccountConfig; at: number } | undefined {
    const session = this.sessions.get(accountId);
    return session?.signedInAt !== undefined ? { config: session.config, at: session.signedInAt } : undefined;
  }

  /** A provider that holds a sign-in made for exactly this configuration, if any. */
  providerFor(accountId: string, config: AccountConfig): M365TokenProvider | undefined {
    const session = this.sessions.get(accountId);
    return session && session.configKey === JSON.stringify(config) && session.status.state === 'signed-in' ? session.provider : undefined;
  }

  async signOut(accountId: string): Promise<void> {
    const session = this.sessions.get(accountId);
    if (session) await session.provider.signOut();
    this.drop(accountId);
  }

  private finish(accountId: string, session: Session, account: SignedInAccount): void {
    session.status = { state: 'signed-in', username: account.username };
    session.signedInAt = Date.now();
    session.authState = undefined;
    this.expireLater(accountId, session);
  }

  private fail(accountId: string, session: Session, error: unknown): void {
    const e = isM365MailError(error) ? error : new M365MailError(error instanceof Error ? error.message : String(error), { kind: 'unknown' });
    session.status = { state: 'failed', error: e.message, fix: e.fix || undefined };
    session.authState = undefined;
    this.expireLater(accountId, session);
  }

  private expireLater(accountId: string, session: Session): void {
    const timer = setTimeout(() => {
      if (this.sessions.get(accountId) === session) this.drop(accountId);
    }, KEEP_FINISHED_MS);
    timer.unref();
  }

  private drop(accountId: string): void {
    const session = this.sessions.get(accountId);
    if (!session) return;
    session.cancel?.();
    session.provider.dispose();
    this.sessions.delete(accountId);
  }
}
