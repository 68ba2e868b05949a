/**
 * The shapes of a token provider (src/auth/token-provider.ts): what it needs, what it hands out,
 * and the sign-in sessions of the delegated types. Kept apart so node glue can name them without
 * reading the provider.
 */
import type { LogLevel, INetworkModule } from '@azure/msal-node';
import type { AuthType } from './account-config';
import type { ResolvedEndpoints } from './clouds';
import type { Logger } from '../core/logger';
import type { AccessTokenSource, MailProtocol } from './token-source';

export interface TokenProviderDeps {
  /** The node's log (node.debug/log/warn/error), or console in tests. */
  logger?: Logger;
  /** File for the encrypted delegated sign-in (e.g. <userDir>/m365-mail/<node id>.cache). Without it, delegated sign-ins live in memory only. */
  cacheFile?: string;
  /** Secret the cache key is derived from (Node-RED's credentialSecret). Required with cacheFile. */
  cacheSecret?: string;
  /** Extra trusted CA certificates (PEM) for the identity server. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Per-request timeout for identity server calls (ms). */
  timeoutMs?: number;
  /** Environment for HTTPS_PROXY/NO_PROXY (defaults to process.env). */
  env?: Record<string, string | undefined>;
  /** Replaces the network module (tests). */
  networkClient?: INetworkModule;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Renew this long before expiry at most (default 5 min). */
  renewBeforeExpiryMs?: number;
  /** For short-lived tokens, renew when this fraction of the lifetime is left (default 0.25). */
  renewAtLifetimeFraction?: number;
  /** A forced refresh within this time after the last token was obtained reuses that token (default 5 s). */
  forceRefreshDebounceMs?: number;
  /** MSAL log level forwarded to the logger (default Warning). PII logging is always off. */
  msalLogLevel?: LogLevel;
  /**
   * The protocols the account's nodes use, asked at each sign-in and token request (default: none
   * known, which means IMAP and POP3, see PROTOCOLS_WITHOUT_USERS).
   */
  protocols?: () => readonly MailProtocol[];
  /** Told after a sign-in finished here (with the user) and after a sign-out (undefined). */
  onSignInChange?: (account: SignedInAccount | undefined) => void;
}

export interface SignedInAccount {
  username: string;
  tenantId: string;
  homeAccountId: string;
}

export interface DeviceCodeSession {
  userCode: string;
  verificationUri: string;
  /** Microsoft's instruction text, to show as is. */
  message: string;
  expiresAt: Date;
  /** Settles when the user finished (or the code expired / was cancelled). Never rejects unhandled. */
  completion: Promise<SignedInAccount>;
  cancel(): void;
}

export interface AuthCodeStart {
  url: string;
  state: string;
}

/** The query of the redirect back from the sign-in page. */
export interface AuthCodeResponse {
  code?: string;
  state?: string;
  error?: string;
  error_description?: string;
}

export interface M365TokenProvider extends AccessTokenSource {
  readonly authType: AuthType;
  readonly endpoints: ResolvedEndpoints;
  /** Delegated: starts device code sign-in; resolves as soon as the code is there. */
  startDeviceCode(): Promise<DeviceCodeSession>;
  /** Delegated: the sign-in URL (PKCE + state) for a browser redirect to `redirectUri`. */
  startAuthCode(redirectUri: string): Promise<AuthCodeStart>;
  /** Delegated: finishes the browser sign-in with the redirect's query; checks state and PKCE. */
  completeAuthCode(query: AuthCodeResponse): Promise<SignedInAccount>;
  /** The signed-in user of a delegated account, if any (restored from the cache file after a restart). */
  getAccount(): Promise<SignedInAccount | undefined>;
  /** Forgets the delegated sign-in: MSAL cache, memory and the cache file. */
  signOut(): Promise<void>;
  /** Cancels a pending device code sign-in and drops cached tokens. */
  dispose(): void;
}
