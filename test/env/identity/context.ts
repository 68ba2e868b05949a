/**
 * The shared state of one identity server: settings that tests change at runtime, the stores of
 * codes and refresh tokens, counters and injected faults. Handlers receive it instead of globals.
 */
import type { Directory } from './directory';
import type { EntraError } from './errors';
import type { TokenIssuer } from './tokens';

/** Which tenant the request path named. `tenant` covers GUIDs and verified domains. */
export type AuthorityTenant =
  | { kind: 'tenant'; segment: string; tenantId: string; displayName: string; consumers: boolean }
  | { kind: 'common' | 'organizations' | 'consumers'; segment: string };

export interface AuthorizationCode {
  clientId: string;
  userOid: string;
  scope: string;
  redirectUri: string;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  nonce?: string;
  expiresAtMs: number;
  redeemed: boolean;
  /** MFA was performed at sign-in (only when the user's policy required it). */
  mfa: boolean;
}

export interface DeviceCodeEntry {
  deviceCode: string;
  userCode: string;
  clientId: string;
  authority: AuthorityTenant;
  scope: string;
  expiresAtMs: number;
  state: 'pending' | 'approved' | 'declined' | 'failed' | 'redeemed';
  userOid?: string;
  mfa?: boolean;
  /** Set when approval ended in an error the client must see when polling (e.g. AADSTS65001). */
  error?: EntraError;
}

export interface RefreshTokenEntry {
  clientId: string;
  userOid: string;
  issuedAtMs: number;
  lastUsedMs: number;
  /** MFA was done in the sign-in that produced this token family. */
  mfa: boolean;
}

/** Pending sign-in on the authorize page, referenced from the form by an opaque id. */
export interface AuthorizeTransaction {
  authority: AuthorityTenant;
  clientId: string;
  redirectUri: string;
  state?: string;
  scope: string;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  nonce?: string;
  loginHint?: string;
  expiresAtMs: number;
}

export interface IdentityStats {
  tokenRequests: number;
  byGrant: Record<string, number>;
  byClient: Record<string, number>;
  deviceCodeRequests: number;
  introspections: number;
  /**
   * The `scope` parameter of every token, device code and sign-in page (authorize GET) request,
   * in order, as sent: what a client asked the user or the tenant to grant.
   */
  requestedScopes: Array<{ endpoint: 'token' | 'devicecode' | 'authorize'; scope: string }>;
  reset(): void;
}

export interface IdentityFaults {
  /** The next N token/devicecode requests answer 500 (AADSTS90033). */
  fail500Count: number;
  /** The next `count` token/devicecode requests answer 429 with `Retry-After: retryAfterSec`. */
  rateLimit: { count: number; retryAfterSec: number };
  /** Delay before answering token/devicecode requests. */
  delayMs: number;
}

export interface IdentitySettings {
  tokenLifetimeSec: number;
  refreshTokenLifetimeSec: number;
  deviceCodeLifetimeSec: number;
  deviceCodeIntervalSec: number;
}

export interface IdentityContext {
  readonly baseUrl: string;
  readonly directory: Directory;
  readonly issuer: TokenIssuer;
  readonly settings: IdentitySettings;
  readonly stats: IdentityStats;
  readonly faults: IdentityFaults;
  readonly codes: Map<string, AuthorizationCode>;
  readonly deviceCodes: Map<string, DeviceCodeEntry>;
  readonly refreshTokens: Map<string, RefreshTokenEntry>;
  readonly transactions: Map<string, AuthorizeTransaction>;
}

/** Fresh counters with a `reset()` that zeroes them in place (tests keep the reference). */
export function createStats(): IdentityStats {
  const stats: IdentityStats = {
    tokenRequests: 0,
    byGrant: {},
    byClient: {},
    deviceCodeRequests: 0,
    introspections: 0,
    requestedScopes: [],
    reset() {
      stats.tokenRequests = 0;
      stats.byGrant = {};
      stats.byClient = {};
      stats.deviceCodeRequests = 0;
      stats.introspections = 0;
      stats.requestedScopes = [];
    },
  };
  return stats;
}
