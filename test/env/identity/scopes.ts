/**
 * Scope parsing as the v2.0 endpoint does it: every scope names one resource (a bare name means
 * Microsoft Graph), OpenID scopes name none, one token is for one resource only.
 */
import {
  RESOURCE_DELEGATED_SCOPES, RESOURCE_URIS, type ResourceKey,
} from './directory';
import { Errors } from './errors';

export const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;
const GRAPH = 'https://graph.microsoft.com';

export interface ScopeRequest {
  /** The requested scope string, as sent. */
  raw: string;
  /** Resource URI as requested (becomes `aud`), e.g. `https://outlook.office.com`. */
  resourceUri: string;
  resourceKey: ResourceKey;
  /** Scope names on the resource, canonical casing; `['.default']` for the static scope. */
  names: string[];
  isDefault: boolean;
  /** OpenID scopes requested (lower case). */
  oidc: Set<string>;
}

/**
 * Parses a scope parameter; throws the Entra error for unknown resources (500011), more than one
 * resource (700022) and `.default` mixed with other scopes (70011).
 */
export function parseScopes(raw: string | undefined, tenantName: string): ScopeRequest {
  const tokens = (raw ?? '').split(/\s+/).filter(Boolean);
  if (tokens.length === 0) throw Errors.missingParameter('scope');
  const oidc = new Set<string>();
  const byResource = new Map<string, string[]>();
  for (const token of tokens) {
    const lower = token.toLowerCase();
    if ((OIDC_SCOPES as readonly string[]).includes(lower)) {
      oidc.add(lower);
      continue;
    }
    const slash = token.lastIndexOf('/');
    const resource = slash > 0 ? token.slice(0, slash).replace(/\/+$/, '').toLowerCase() : GRAPH;
    const name = slash > 0 ? token.slice(slash + 1) : token;
    const names = byResource.get(resource) ?? [];
    names.push(name);
    byResource.set(resource, names);
  }
  for (const resource of byResource.keys()) {
    if (!RESOURCE_URIS[resource]) throw Errors.resourceNotFound(resource, tenantName);
  }
  if (byResource.size > 1) throw Errors.multipleResources(raw ?? '');
  const [resourceUri, names] = byResource.size === 1 ? [...byResource][0] : [GRAPH, [] as string[]];
  const isDefault = names.some((n) => n === '.default');
  if (isDefault && names.length > 1) {
    throw Errors.invalidScope(raw ?? '', ".default scope can't be combined with resource-specific scopes.");
  }
  return { raw: raw ?? '', resourceUri, resourceKey: RESOURCE_URIS[resourceUri], names, isDefault, oidc };
}

/** Canonicalises delegated scope names against what the resource exposes; throws 70011 for unknown ones. */
export function canonicalDelegatedScopes(request: ScopeRequest): string[] {
  if (request.isDefault) return ['.default'];
  const known = RESOURCE_DELEGATED_SCOPES[request.resourceKey];
  return request.names.map((name) => {
    const match = known.find((k) => k.toLowerCase() === name.toLowerCase());
    if (!match) throw Errors.invalidScope(request.raw);
    return match;
  });
}

/**
 * The `scope` value of a token response, like Entra: full URIs for non-Graph resources; the OpenID
 * scopes belong to Graph, so only Graph tokens list them (short names).
 */
export function responseScope(request: ScopeRequest, granted: string[]): string {
  if (request.resourceKey !== 'graph') return granted.map((s) => `${request.resourceUri}/${s}`).join(' ');
  const oidc = ['openid', 'profile', 'email'].filter((s) => request.oidc.has(s));
  return [...granted, ...oidc].join(' ');
}
