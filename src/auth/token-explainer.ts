/**
 * Explains an access token in the words of the problems users actually hit: a token for Graph
 * instead of Exchange, a missing IMAP/POP permission, an expired token. It decodes the JWT payload
 * without verifying the signature (only Exchange can verify it, and we only diagnose); the
 * explanation never contains the token itself.
 */
import { M365MailError } from '../core/errors';
import type { MailProtocol } from './token-source';

export type TokenKind = 'delegated' | 'app-only';

/** The protocols a token is used for: the mail readers' and SMTP submission's. */
export type TokenProtocol = MailProtocol | 'smtp';

export interface TokenExpectation {
  /** Which kind the account's auth type produces. */
  kind?: TokenKind;
  /** Protocol the token is about to be used for; without it, any IMAP or POP permission will do. */
  protocol?: TokenProtocol;
  /** Expected audience (the resource Exchange Online wants), e.g. https://outlook.office365.com. */
  resource?: string;
  /** Clock, ms since epoch (tests). */
  now?: number;
}

export interface TokenExplanation {
  audience?: string;
  tenantId?: string;
  appId?: string;
  upn?: string;
  scopes: string[];
  roles: string[];
  expiresAt?: Date;
  issuedAt?: Date;
  kind?: TokenKind;
  problems: M365MailError[];
}

/** Exchange Online's first-party application ID, the audience of some v1 tokens. */
const EXCHANGE_APP_ID = '00000002-0000-0ff1-ce00-000000000000';
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const GRAPH_AUDIENCES = new Set([
  GRAPH_APP_ID,
  'https://graph.microsoft.com',
  'https://graph.microsoft.us',
  'https://dod-graph.microsoft.us',
  'https://microsoftgraph.chinacloudapi.cn',
]);
/** Audiences Exchange Online accepts in one cloud or another. */
export const EXCHANGE_AUDIENCES: ReadonlySet<string> = new Set([
  EXCHANGE_APP_ID,
  'https://outlook.office.com',
  'https://outlook.office365.com',
  'https://outlook.office365.us',
  'https://outlook-dod.office365.us',
  'https://partner.outlook.cn',
]);

/** The Exchange Online permission each protocol needs, per kind of token. */
export const DELEGATED_PERMISSION: Readonly<Record<TokenProtocol, string>> = { imap: 'IMAP.AccessAsUser.All', pop3: 'POP.AccessAsUser.All', smtp: 'SMTP.Send' };
export const APP_PERMISSION: Readonly<Record<TokenProtocol, string>> = { imap: 'IMAP.AccessAsApp', pop3: 'POP.AccessAsApp', smtp: 'SMTP.SendAsApp' };
const PROTOCOL_LABEL: Record<TokenProtocol, string> = { imap: 'IMAP', pop3: 'POP', smtp: 'SMTP' };

type Claims = Record<string, unknown>;

/** An audience as compared: no trailing slash, lower case. */
export function normalizeAudience(aud: string): string {
  return aud.replace(/\/+$/, '').toLowerCase();
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value ? value : undefined;
}

function dateFromSeconds(value: unknown): Date | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? new Date(value * 1000) : undefined;
}

/** Decodes the payload of a compact JWS; undefined when it isn't one. */
export function decodeJwtPayload(token: string): Claims | undefined {
  const parts = token.trim().split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const json = Buffer.from(parts[1], 'base64url').toString('utf8');
    const payload: unknown = JSON.parse(json);
    return payload && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Claims) : undefined;
  } catch {
    return undefined;
  }
}

function wrongAudienceError(audience: string | undefined, graph: boolean, expected?: string): M365MailError {
  const has = audience ? `"${audience}"${graph ? ' (Microsoft Graph)' : ''}` : 'no audience';
  const wants = expected ? `Exchange Online wants "${expected}"` : 'Exchange Online wants its own (e.g. "https://outlook.office365.com")';
  return new M365MailError(`The access token is for ${has}, but ${wants}.`, {
    kind: 'wrong-audience',
    fix: 'Request only the IMAP/POP scopes of outlook.office.com (https://outlook.office.com/IMAP.AccessAsUser.All, '
      + 'https://outlook.office.com/POP.AccessAsUser.All, offline_access) or, app-only, https://outlook.office365.com/.default; '
      + 'never User.Read or another Graph scope in the same request.',
  });
}

function missingPermissionError(kind: TokenKind, wanted: string[], protocol?: TokenProtocol): M365MailError {
  const perms = wanted.join(' or ');
  const consent = kind === 'app-only' ? 'Application permission' : 'Delegated permission';
  return new M365MailError(`The access token has no ${perms} ${kind === 'app-only' ? 'role' : 'scope'}${protocol ? ` for ${PROTOCOL_LABEL[protocol]}` : ''}.`, {
    kind: 'missing-permission',
    fix: `In the app registration → API permissions → Add a permission → APIs my organization uses → "Office 365 Exchange Online", `
      + `add the ${consent} ${perms}, then grant admin consent.`,
  });
}

/**
 * Decodes `token` (without verifying it) and names what is wrong with it for IMAP/POP use.
 * The result contains claims only, never the token.
 */
export function explainAccessToken(token: string, expectation: TokenExpectation = {}): TokenExplanation {
  const claims = decodeJwtPayload(token);
  if (!claims) {
    return {
      scopes: [],
      roles: [],
      problems: [new M365MailError('The access token is not a JWT, so it cannot be explained.', {
        kind: 'invalid-token',
        fix: 'Work and school accounts get JWT access tokens for Exchange Online; personal Microsoft accounts get opaque ones. Check that the tenant is not "consumers" and that the token came from the configured authority.',
      })],
    };
  }

  const audience = str(claims.aud);
  const scopes = (str(claims.scp) ?? '').split(' ').filter(Boolean);
  const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
  const kind: TokenKind = scopes.length > 0 ? 'delegated' : 'app-only';
  const explanation: TokenExplanation = {
    audience,
    tenantId: str(claims.tid),
    appId: str(claims.appid) ?? str(claims.azp),
    upn: str(claims.upn) ?? str(claims.preferred_username) ?? str(claims.unique_name),
    scopes,
    roles,
    expiresAt: dateFromSeconds(claims.exp),
    issuedAt: dateFromSeconds(claims.iat),
    kind,
    problems: [],
  };

  const aud = audience ? normalizeAudience(audience) : undefined;
  const expected = expectation.resource ? normalizeAudience(expectation.resource) : undefined;
  const isGraph = aud !== undefined && GRAPH_AUDIENCES.has(aud);
  const audienceOk = aud !== undefined && !isGraph
    && (expected ? aud === expected || aud === EXCHANGE_APP_ID : EXCHANGE_AUDIENCES.has(aud));
  if (!audienceOk) explanation.problems.push(wrongAudienceError(audience, isGraph, expectation.resource));

  // Permissions are only worth naming when the token is for Exchange at all.
  if (!isGraph) {
    const protocols: TokenProtocol[] = expectation.protocol ? [expectation.protocol] : ['imap', 'pop3'];
    const effectiveKind = expectation.kind ?? kind;
    if (effectiveKind === 'delegated') {
      const wanted = protocols.map((p) => DELEGATED_PERMISSION[p]);
      if (!wanted.some((w) => scopes.includes(w))) explanation.problems.push(missingPermissionError('delegated', wanted, expectation.protocol));
    } else {
      const wanted = protocols.map((p) => APP_PERMISSION[p]);
      if (!wanted.some((w) => roles.includes(w))) explanation.problems.push(missingPermissionError('app-only', wanted, expectation.protocol));
    }
  }

  const now = expectation.now ?? Date.now();
  if (explanation.expiresAt && explanation.expiresAt.getTime() <= now) {
    explanation.problems.push(new M365MailError(`The access token expired at ${explanation.expiresAt.toISOString()}.`, {
      kind: 'token-expired',
      retryable: true,
      fix: 'Get a fresh token (the account does this by itself); if it keeps happening, check the clock of this machine.',
    }));
  }
  return explanation;
}
