/**
 * Minimal JWT (JWS compact) signing and verification over node:crypto: RS256 for the tokens this
 * server issues, RS256 and PS256 for client assertions (MSAL signs PS256 when given a SHA-256
 * thumbprint, RS256 with a SHA-1 one).
 */
import { constants, createHash, sign, verify, type KeyObject } from 'node:crypto';

export type JwtHeader = Record<string, unknown> & { alg: string };
export type JwtPayload = Record<string, unknown>;

export interface DecodedJwt {
  header: JwtHeader;
  payload: JwtPayload;
  signingInput: string;
  signature: Buffer;
}

function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Signs `payload` with RS256. */
export function signRs256(header: Record<string, unknown>, payload: JwtPayload, privateKey: KeyObject): string {
  const signingInput = `${encodeSegment({ ...header, alg: 'RS256' })}.${encodeSegment(payload)}`;
  const signature = sign('sha256', Buffer.from(signingInput), privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** Splits and parses a compact JWT without checking anything; undefined when it is not one. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as JwtHeader;
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as JwtPayload;
    if (typeof header !== 'object' || header === null || typeof payload !== 'object' || payload === null) return undefined;
    return { header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2], 'base64url') };
  } catch {
    return undefined;
  }
}

/** Verifies the signature of a decoded JWT (RS256 or PS256) against a public key. */
export function verifySignature(jwt: DecodedJwt, publicKey: KeyObject): boolean {
  const data = Buffer.from(jwt.signingInput);
  try {
    switch (jwt.header.alg) {
      case 'RS256':
        return verify('sha256', data, publicKey, jwt.signature);
      case 'PS256':
        return verify('sha256', data, {
          key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
        }, jwt.signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** RFC 7638 JWK thumbprint of an RSA public key, used as the `kid` of the signing key. */
export function rsaKeyId(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  const canonical = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  return createHash('sha256').update(canonical).digest('base64url');
}
