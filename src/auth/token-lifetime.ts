/**
 * How long an access token is used: when it expires by the real clock, and when to renew it ahead
 * of that (5 minutes before at most, or when a quarter of a short lifetime is left).
 */
import type { AuthenticationResult } from '@azure/msal-node';
import { decodeJwtPayload } from './token-explainer';
import type { TokenProviderDeps } from './token-provider-types';

export interface CachedToken {
  accessToken: string;
  obtainedAt: number;
  /** Issued by the identity server for us (not restored from MSAL's cache). */
  issuedFresh: boolean;
  renewAt: number;
  expiresAt: number;
}

const DEFAULT_RENEW_BEFORE_MS = 5 * 60_000;

// A token's `exp` is trusted only while this machine's clock agrees with the server's this well.
const EXP_CLAIM_TOLERANCE_MS = 60_000;

/**
 * When the access token expires, by the real clock. MSAL's expiresOn is its request time in whole
 * seconds (rounded) plus expires_in, so it can lie up to a second or two after the token's own
 * `exp`; that matters for short-lived tokens. The earlier of the two wins, but `exp` only when it
 * is near expiresOn: on a machine whose clock is off, `exp` would make every token look expired.
 */
function expiryOf(result: AuthenticationResult): number {
  const expiresOn = result.expiresOn?.getTime() ?? Date.now();
  const exp = decodeJwtPayload(result.accessToken)?.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return expiresOn;
  const fromClaim = exp * 1000;
  return Math.abs(fromClaim - expiresOn) <= EXP_CLAIM_TOLERANCE_MS ? Math.min(expiresOn, fromClaim) : expiresOn;
}

/** The cached form of a token MSAL returned, obtained at `obtainedAt` on the provider's clock. */
export function tokenFrom(
  result: AuthenticationResult,
  obtainedAt: number,
  deps: Pick<TokenProviderDeps, 'renewBeforeExpiryMs' | 'renewAtLifetimeFraction'>,
): CachedToken {
  // MSAL measures expiry with the real clock; carry the remaining lifetime over to ours.
  const lifetime = Math.max(0, expiryOf(result) - Date.now());
  const margin = Math.min(deps.renewBeforeExpiryMs ?? DEFAULT_RENEW_BEFORE_MS, lifetime * (deps.renewAtLifetimeFraction ?? 0.25));
  return {
    accessToken: result.accessToken,
    obtainedAt,
    issuedFresh: !result.fromCache,
    expiresAt: obtainedAt + lifetime,
    renewAt: obtainedAt + lifetime - margin,
  };
}
