/**
 * One token source per `m365-account`: picks the MSAL client for the auth type, runs the sign-in
 * flows of the delegated types, keeps the delegated sign-in across restarts (encrypted cache file)
 * and hands out access tokens — reused until shortly before they expire, one request in flight at
 * a time however many mail connections ask.
 *
 * The scopes asked for are those of the protocols in use (`deps.protocols`, the account's register
 * of nodes): one token per protocol set, each cached on its own, so adding a sending node asks for
 * SMTP.Send while a reader-only account never does.
 */
import {
  CryptoProvider,
  type AccountInfo,
  type AuthenticationResult,
  type ConfidentialClientApplication,
  type DeviceCodeRequest,
  type PublicClientApplication,
} from '@azure/msal-node';
import { isAppOnly, validateAccountConfig, type AccountConfig, type AuthType } from './account-config';
import { resolveEndpoints, type ResolvedEndpoints } from './clouds';
import { errorFromMsal, type DiagnoseContext } from './diagnose';
import { M365MailError } from '../core/errors';
import type { Logger } from '../core/logger';
import type { HttpExchange } from './network-client';
import { createMsalClients } from './msal-clients';
import { PendingAuthCodes } from './pending-auth-codes';
import { PROTOCOLS_WITHOUT_USERS, scopesFor } from './scopes';
import { exchangeResourceFor, type ExpectedToken } from './refused-login';
import { tokenFrom, type CachedToken } from './token-lifetime';
import type { EncryptedFileCachePlugin } from './token-cache';
import type { MailProtocol } from './token-source';
import type {
  AuthCodeResponse, AuthCodeStart, DeviceCodeSession, M365TokenProvider, SignedInAccount, TokenProviderDeps,
} from './token-provider-types';

export type {
  AuthCodeResponse, AuthCodeStart, DeviceCodeSession, M365TokenProvider, SignedInAccount, TokenProviderDeps,
} from './token-provider-types';
export { signInBinding } from './msal-clients';

function toAccount(info: AccountInfo): SignedInAccount {
  return { username: info.username, tenantId: info.tenantId, homeAccountId: info.homeAccountId };
}

class TokenProvider implements M365TokenProvider {
  readonly authType: AuthType;
  readonly endpoints: ResolvedEndpoints;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly cachePlugin?: EncryptedFileCachePlugin;
  private readonly confidential?: ConfidentialClientApplication;
  private readonly publicClient?: PublicClientApplication;

  /** Tokens by the scopes they were asked for (`scopeKey`): one per protocol set. */
  private readonly cached = new Map<string, CachedToken>();
  private readonly inFlight = new Map<string, Promise<CachedToken>>();
  private lastHttp?: HttpExchange;
  private lastTransportError?: Error;
  /**
   * After a 429/5xx from the token endpoint MSAL answers identical requests from its throttling
   * cache (until Retry-After, or 60 s without one) with a bare ServerError: no HTTP status, only
   * the AADSTS number. Remember the window so such replays map to a retryable error with the
   * time left, instead of "unknown" (which made readers wait 30–60 s, POP3 a full minute).
   */
  private throttle?: { until: number; status: number };
  private readonly pendingAuthCodes: PendingAuthCodes;
  private deviceCodeRequest?: DeviceCodeRequest;
  private disposed = false;

  constructor(private readonly config: AccountConfig, private readonly deps: TokenProviderDeps) {
    this.authType = config.authType ?? 'client-secret';
    this.endpoints = resolveEndpoints(config);
    this.now = deps.now ?? Date.now;
    this.logger = deps.logger ?? {};

    this.pendingAuthCodes = new PendingAuthCodes(this.now);
    const clients = createMsalClients(config, this.authType, this.endpoints, deps, {
      onResponse: (exchange) => {
        this.lastHttp = exchange;
        if (exchange.status === 429 || (exchange.status >= 500 && exchange.status < 600)) {
          this.throttle = { until: Date.now() + (exchange.retryAfterMs ?? 60_000), status: exchange.status };
        }
      },
      onTransportError: (error) => { this.lastTransportError = error; },
      onLog: (message, containsPii) => this.forwardMsalLog(message, containsPii),
      onCacheProblem: (problem) => this.logger.warn?.(problem.toString()),
    });
    this.confidential = clients.confidential;
    this.publicClient = clients.publicClient;
    this.cachePlugin = clients.cachePlugin;
  }

  /** The protocols in use; a protocol asked for that no node registered (Test connection) joins them. */
  private protocolsInUse(protocol?: MailProtocol): MailProtocol[] {
    const registered = this.deps.protocols?.() ?? [];
    const inUse = registered.length > 0 ? [...registered] : [...PROTOCOLS_WITHOUT_USERS];
    if (protocol && !inUse.includes(protocol)) inUse.push(protocol);
    return inUse;
  }

  /** The scopes of a sign-in or token request (sorted by protocol, so a set has one key). */
  private scopes(protocol?: MailProtocol): string[] {
    return scopesFor(this.authType, this.endpoints, this.protocolsInUse(protocol));
  }

  private forwardMsalLog(message: string, containsPii: boolean): void {
    if (containsPii) return; // belt and braces: PII logging is off anyway
    // MSAL's own lines stay at debug level: what goes wrong reaches users as our diagnosed errors,
    // and MSAL warns about normal things (e.g. "No client info in response" on every app-only token).
    this.logger.debug?.(`MSAL: ${message}`);
  }

  private diagnoseContext(): DiagnoseContext {
    return {
      clientId: this.config.clientId,
      tenant: this.config.tenant,
      httpStatus: this.lastHttp?.status,
      retryAfterMs: this.lastHttp?.retryAfterMs,
      transportError: this.lastTransportError,
      serverError: this.lastHttp?.oauthError,
      appOnly: isAppOnly(this.authType),
    };
  }

  private mapError(err: unknown): M365MailError {
    const throttle = this.throttle;
    if (!this.lastHttp && !this.lastTransportError && throttle && Date.now() < throttle.until) {
      // No request went out: MSAL replayed the last 429/5xx from its throttling cache.
      const retryAfterMs = throttle.until - Date.now();
      return throttle.status === 429
        ? new M365MailError('The identity server is throttling token requests (HTTP 429).', {
          kind: 'throttled', retryable: true, retryAfterMs, code: 'HTTP429', cause: err,
          fix: 'Wait and retry; the account backs off by itself. Many token requests usually mean tokens are not reused.',
        })
        : new M365MailError(`The identity server had a problem (HTTP ${throttle.status}).`, {
          kind: 'identity-server-error', retryable: true, retryAfterMs, code: `HTTP${throttle.status}`, cause: err,
          fix: 'This is on Microsoft\'s side; the account retries with backoff.',
        });
    }
    return errorFromMsal(err, this.diagnoseContext());
  }

  private resetExchangeState(): void {
    this.lastHttp = undefined;
    this.lastTransportError = undefined;
  }

  private remember(result: AuthenticationResult | null, scopes: string[]): CachedToken {
    if (!result?.accessToken) {
      throw new M365MailError('The identity server returned no access token.', {
        kind: 'identity-server-error', retryable: true, fix: 'Try again later.',
      });
    }
    const token = tokenFrom(result, this.now(), this.deps);
    this.cached.set(scopes.join(' '), token);
    return token;
  }

  expectedToken(): ExpectedToken {
    const kind = isAppOnly(this.authType) ? 'app-only' : 'delegated';
    return {
      kind,
      requestedResource: kind === 'app-only' ? this.endpoints.appOnlyResource : this.endpoints.delegatedResource,
      exchangeResource: exchangeResourceFor(this.endpoints, kind),
      clientId: this.config.clientId.trim(),
    };
  }

  /** A token for the protocols in use (which include `protocol`); all of them share one resource. */
  async getAccessToken(protocol: MailProtocol, options: { forceRefresh?: boolean } = {}): Promise<string> {
    if (this.disposed) {
      throw new M365MailError('The account was closed.', { kind: 'config', fix: 'Redeploy the flow.' });
    }
    const now = this.now();
    const scopes = this.scopes(protocol);
    const key = scopes.join(' ');
    const cached = this.cached.get(key);
    if (cached) {
      const fresh = now < cached.renewAt;
      // Several connections refused the same expired token at once: one renewal serves them all.
      const justRenewed = cached.issuedFresh && now - cached.obtainedAt < (this.deps.forceRefreshDebounceMs ?? 5_000);
      if (fresh && (!options.forceRefresh || justRenewed)) return cached.accessToken;
    }
    let pending = this.inFlight.get(key);
    if (!pending) {
      const force = options.forceRefresh === true;
      pending = this.acquire(scopes, force).finally(() => { this.inFlight.delete(key); });
      this.inFlight.set(key, pending);
    }
    return (await pending).accessToken;
  }

  private async acquire(scopes: string[], forceRefresh: boolean): Promise<CachedToken> {
    this.resetExchangeState();
    if (this.confidential) {
      try {
        const result = await this.confidential.acquireTokenByClientCredential({ scopes, skipCache: forceRefresh });
        return this.remember(result, scopes);
      } catch (err) {
        throw this.mapError(err);
      }
    }
    const account = await this.currentAccountInfo();
    if (!account) throw this.noAccountError();
    try {
      const result = await this.requirePublic().acquireTokenSilent({ account, scopes, forceRefresh });
      return this.remember(result, scopes);
    } catch (err) {
      throw this.mapError(err);
    }
  }

  private noAccountError(): M365MailError {
    const problem = this.cachePlugin?.loadProblem;
    if (problem) return problem;
    return new M365MailError('No user is signed in for this account.', {
      kind: 'sign-in-required',
      fix: 'Open the account settings and sign in (device code or browser sign-in).',
    });
  }

  private requirePublic(): PublicClientApplication {
    if (!this.publicClient) {
      throw new M365MailError(`Interactive sign-in is not available for ${this.authType}.`, {
        kind: 'config', fix: 'Choose the device-code or auth-code authentication type for a signed-in user.',
      });
    }
    return this.publicClient;
  }

  private async currentAccountInfo(): Promise<AccountInfo | undefined> {
    if (!this.publicClient) return undefined;
    const accounts = await this.publicClient.getTokenCache().getAllAccounts();
    return accounts[0];
  }

  /** After a sign-in, keep only the new account: one config node = one mailbox identity. */
  private async keepOnly(account: AccountInfo): Promise<void> {
    const cache = this.requirePublic().getTokenCache();
    for (const other of await cache.getAllAccounts()) {
      if (other.homeAccountId !== account.homeAccountId) await cache.removeAccount(other);
    }
  }

  private async finishSignIn(result: AuthenticationResult | null, scopes: string[]): Promise<SignedInAccount> {
    if (!result?.account) {
      throw new M365MailError('The sign-in returned no account.', { kind: 'identity-server-error', retryable: true, fix: 'Sign in again.' });
    }
    this.cached.clear();
    this.remember(result, scopes);
    await this.keepOnly(result.account);
    this.logger.info?.(`Signed in as ${result.account.username}`);
    const account = toAccount(result.account);
    this.deps.onSignInChange?.(account);
    return account;
  }

  async startDeviceCode(): Promise<DeviceCodeSession> {
    const client = this.requirePublic();
    this.cancelDeviceCode();
    this.resetExchangeState();
    const scopes = this.scopes();
    return new Promise<DeviceCodeSession>((resolve, reject) => {
      let announced = false;
      const request: DeviceCodeRequest = {
        scopes,
        deviceCodeCallback: (response) => {
          announced = true;
          resolve({
            userCode: response.userCode,
            verificationUri: response.verificationUri,
            message: response.message,
            expiresAt: new Date(this.now() + response.expiresIn * 1000),
            completion,
            cancel: () => { request.cancel = true; },
          });
        },
      };
      this.deviceCodeRequest = request;
      const completion = client.acquireTokenByDeviceCode(request)
        .then((result) => this.finishSignIn(result, scopes))
        .catch((err: unknown) => { throw this.mapError(err); })
        .finally(() => { if (this.deviceCodeRequest === request) this.deviceCodeRequest = undefined; });
      // Handled here, so a caller that never awaits completion (editor closed) can't crash Node;
      // a failure before the code was announced rejects startDeviceCode itself.
      completion.catch((err: unknown) => { if (!announced) reject(err); });
    });
  }

  private cancelDeviceCode(): void {
    if (this.deviceCodeRequest) this.deviceCodeRequest.cancel = true;
    this.deviceCodeRequest = undefined;
  }

  async startAuthCode(redirectUri: string): Promise<AuthCodeStart> {
    const client = this.requirePublic();
    const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
    const state = this.pendingAuthCodes.add(verifier, redirectUri);
    this.resetExchangeState();
    try {
      const url = await client.getAuthCodeUrl({
        scopes: this.scopes(),
        redirectUri,
        codeChallenge: challenge,
        codeChallengeMethod: 'S256',
        state,
        prompt: 'select_account',
      });
      return { url, state };
    } catch (err) {
      this.pendingAuthCodes.delete(state);
      throw this.mapError(err);
    }
  }

  async completeAuthCode(query: AuthCodeResponse): Promise<SignedInAccount> {
    const client = this.requirePublic();
    const [state, pending] = this.pendingAuthCodes.take(query.state);
    if (query.error) {
      throw this.mapError({ errorCode: query.error, errorMessage: query.error_description ?? '' });
    }
    if (!query.code) {
      throw new M365MailError('The sign-in response contains no authorization code.', {
        kind: 'bad-request', fix: 'Start the sign-in again.',
      });
    }
    this.resetExchangeState();
    const scopes = this.scopes();
    try {
      const result = await client.acquireTokenByCode(
        { code: query.code, scopes, redirectUri: pending.redirectUri, codeVerifier: pending.verifier, state },
        { code: query.code, state: query.state },
      );
      return await this.finishSignIn(result, scopes);
    } catch (err) {
      throw this.mapError(err);
    }
  }

  async getAccount(): Promise<SignedInAccount | undefined> {
    const info = await this.currentAccountInfo();
    return info ? toAccount(info) : undefined;
  }

  async signOut(): Promise<void> {
    this.cancelDeviceCode();
    this.cached.clear();
    if (this.publicClient) {
      const cache = this.publicClient.getTokenCache();
      for (const account of await cache.getAllAccounts()) await cache.removeAccount(account);
    }
    await this.cachePlugin?.clear();
    if (this.publicClient) this.deps.onSignInChange?.(undefined);
  }

  dispose(): void {
    this.disposed = true;
    this.cancelDeviceCode();
    this.cached.clear();
    this.pendingAuthCodes.clear();
  }
}

/**
 * Creates the token source of one `m365-account`. Throws the first configuration problem (kind
 * 'config') up front; everything else surfaces as M365MailError from getAccessToken / sign-in calls.
 */
/** `problems`: the caller's validateAccountConfig(config) result, when it has one (validated once per request). */
export function createTokenProvider(config: AccountConfig, deps: TokenProviderDeps = {}, problems = validateAccountConfig(config)): M365TokenProvider {
  if (problems.length > 0) throw problems[0];
  if (!isAppOnly(config.authType) && deps.cacheFile && !deps.cacheSecret) {
    throw new M365MailError('No secret to encrypt the stored sign-in with.', {
      kind: 'config', fix: 'Set credentialSecret in Node-RED\'s settings.js (or let Node-RED generate one) and restart.',
    });
  }
  return new TokenProvider(config, deps);
}
