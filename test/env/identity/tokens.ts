/**
 * Issues the tokens of the identity server: RS256 access tokens whose `aud` is the requested
 * resource, v2.0 ID tokens and `client_info`, which MSAL needs to build an account.
 */
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { App, User } from './directory';
import { decodeJwt, rsaKeyId, signRs256, verifySignature, type JwtPayload } from './jwt';

/** How the client proved itself: 0 public, 1 secret, 2 certificate (the `appidacr` claim). */
export type ClientAuthMethod = 'none' | 'secret' | 'certificate';

const ACR: Record<ClientAuthMethod, string> = { none: '0', secret: '1', certificate: '2' };

const nowSec = (): number => Math.floor(Date.now() / 1000);

/**
 * The opaque claims Entra puts into every access token (`aio`, `rh`, `xms_*`, ...). Nobody reads
 * them, but they make Microsoft's Exchange tokens 1.5-2.5 KB long, and clients and servers must
 * cope with that size: Dovecot's submission service, for one, cannot take such a token on the AUTH
 * line. Random values of the real lengths keep the bed's tokens as long as Microsoft's.
 */
function opaqueEntraClaims(tenantId: string): JwtPayload {
  return {
    aio: randomBytes(96).toString('base64'),
    rh: `1.${randomBytes(52).toString('base64url')}.`,
    xms_idrel: '7 14',
    xms_rd: `0.${randomBytes(126).toString('base64url')}`,
    idp: `https://sts.windows.net/${tenantId}/`,
  };
}

let processSigningKey: { privateKey: KeyObject; publicKey: KeyObject } | undefined;

/**
 * One RSA key per process, made on first use: generating a 2048-bit key costs ~0.3 s on the test
 * machines, and tests start many servers. Servers in one process therefore trust each other's tokens.
 */
function signingKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  processSigningKey ??= generateKeyPairSync('rsa', { modulusLength: 2048 });
  return processSigningKey;
}

/** Holds the signing key and mints every token the server hands out. */
export class TokenIssuer {
  readonly kid: string;
  private readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;

  constructor(private readonly baseUrl: () => string) {
    const pair = signingKeyPair();
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
    this.kid = rsaKeyId(pair.publicKey);
  }

  /** The v2.0 issuer of a tenant: `${url}/${tid}/v2.0`. */
  issuer(tenantId: string): string {
    return `${this.baseUrl()}/${tenantId}/v2.0`;
  }

  /** The JWKS document served at /{tenant}/discovery/v2.0/keys. */
  jwks(): { keys: Record<string, unknown>[] } {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return { keys: [{ kty: 'RSA', use: 'sig', kid: this.kid, x5t: this.kid, n: jwk.n, e: jwk.e, issuer: `${this.baseUrl()}/{tenantid}/v2.0` }] };
  }

  /** Signs arbitrary claims as an access token of this server (no defaults added). */
  sign(claims: JwtPayload): string {
    return signRs256({ typ: 'JWT', kid: this.kid, x5t: this.kid }, claims, this.privateKey);
  }

  /** Verifies that `token` was signed by this server; returns its claims or undefined. */
  verifyOwn(token: string): JwtPayload | undefined {
    const jwt = decodeJwt(token);
    if (!jwt || jwt.header.alg !== 'RS256' || jwt.header.kid !== this.kid) return undefined;
    return verifySignature(jwt, this.publicKey) ? jwt.payload : undefined;
  }

  /** Delegated access token: `scp` with short scope names, user claims, `aud` = resource. */
  delegatedAccessToken(args: {
    user: User; app: App; resourceUri: string; scopes: string[]; lifetimeSec: number; clientAuth: ClientAuthMethod; mfa: boolean;
  }): string {
    const iat = nowSec();
    return this.sign({
      aud: args.resourceUri,
      iss: this.issuer(args.user.tenantId),
      iat, nbf: iat, exp: iat + args.lifetimeSec,
      tid: args.user.tenantId,
      oid: args.user.oid,
      sub: pairwiseSubject(args.user.oid, args.app.clientId),
      upn: args.user.upn,
      preferred_username: args.user.upn,
      unique_name: args.user.upn,
      name: args.user.displayName,
      appid: args.app.clientId,
      azp: args.app.clientId,
      appidacr: ACR[args.clientAuth],
      azpacr: ACR[args.clientAuth],
      app_displayname: args.app.displayName,
      scp: args.scopes.join(' '),
      amr: args.mfa ? ['pwd', 'mfa'] : ['pwd'],
      acct: 0,
      acr: '1',
      given_name: args.user.displayName.split(' ')[0],
      family_name: args.user.displayName.split(' ').slice(1).join(' '),
      ipaddr: '127.0.0.1',
      puid: createHash('sha256').update(args.user.oid).digest('hex').slice(0, 16).toUpperCase(),
      sid: createHash('sha256').update(`${args.user.oid}:session`).digest('hex').slice(0, 32)
        .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
      signin_state: ['kmsi'],
      ...opaqueEntraClaims(args.user.tenantId),
      idtyp: 'user',
      ver: '2.0',
      uti: randomBytes(16).toString('base64url'),
    });
  }

  /** App-only access token: `roles` (omitted when the app has none, as Entra does), `oid` = service principal. */
  appAccessToken(args: {
    app: App; tenantId: string; resourceUri: string; roles: string[]; lifetimeSec: number; clientAuth: ClientAuthMethod;
  }): string {
    const iat = nowSec();
    const claims: JwtPayload = {
      aud: args.resourceUri,
      iss: this.issuer(args.tenantId),
      iat, nbf: iat, exp: iat + args.lifetimeSec,
      tid: args.tenantId,
      oid: args.app.servicePrincipalId,
      sub: args.app.servicePrincipalId,
      appid: args.app.clientId,
      azp: args.app.clientId,
      appidacr: ACR[args.clientAuth],
      azpacr: ACR[args.clientAuth],
      app_displayname: args.app.displayName,
      idtyp: 'app',
      wids: ['0997a1d0-0d1d-4acb-b408-d5ca73121e90'],
      ...opaqueEntraClaims(args.tenantId),
      ver: '2.0',
      uti: randomBytes(16).toString('base64url'),
    };
    if (args.roles.length > 0) claims.roles = args.roles;
    return this.sign(claims);
  }

  /** v2.0 ID token for the client (`aud` = client id). */
  idToken(args: { user: User; app: App; nonce?: string; lifetimeSec: number }): string {
    const iat = nowSec();
    const claims: JwtPayload = {
      ver: '2.0',
      iss: this.issuer(args.user.tenantId),
      aud: args.app.clientId,
      iat, nbf: iat, exp: iat + Math.max(args.lifetimeSec, 3600),
      sub: pairwiseSubject(args.user.oid, args.app.clientId),
      oid: args.user.oid,
      tid: args.user.tenantId,
      name: args.user.displayName,
      preferred_username: args.user.upn,
      email: args.user.upn,
      uti: randomBytes(16).toString('base64url'),
    };
    if (args.nonce) claims.nonce = args.nonce;
    return this.sign(claims);
  }
}

/** base64url JSON `{uid, utid}` as Entra returns it when the request carried client_info=1. */
export function clientInfo(user: User): string {
  return Buffer.from(JSON.stringify({ uid: user.oid, utid: user.tenantId })).toString('base64url');
}

/** Entra's `sub` is pairwise per app; a hash of user and app keeps it stable and distinct. */
function pairwiseSubject(oid: string, clientId: string): string {
  return createHash('sha256').update(`${oid}:${clientId}`).digest('base64url').slice(0, 43);
}

/** An opaque random handle (authorization codes, device codes, refresh tokens). */
export function opaqueHandle(prefix: string, bytes = 48): string {
  return `${prefix}.${randomBytes(bytes).toString('base64url')}`;
}
