/** Public surface of the auth library behind the `m365-account` config node. */
export * from './errors';
export type { AccessTokenSource, MailProtocol } from './token-source';
export { buildXOAuth2 } from './xoauth2';
export {
  CLOUDS, CLOUD_NAMES, IMAP_TLS_PORT, POP3_TLS_PORT, cloudProfile, resolveEndpoints,
  type CloudName, type CloudProfile, type CloudSelection, type HostPort, type ResolvedEndpoints,
} from './clouds';
export {
  AUTH_TYPES, MULTI_TENANT_ALIASES, isAppOnly, isGuid, normalizeThumbprint, redactUrl, validateAccountConfig, validateProxyUrl,
  type AccountConfig, type AccountCredentials, type AuthType, type NormalizedThumbprint,
} from './account-config';
export { OFFLINE_ACCESS, scopesFor } from './scopes';
export { decodeJwtPayload, explainAccessToken, type TokenExpectation, type TokenExplanation, type TokenKind } from './token-explainer';
export { aadstsCode, errorFromMsal, errorFromServerResponse, errorFromTransport, type DiagnoseContext } from './diagnose';
export { describeProxy, isNoProxy, openTunnel, resolveProxy, type ProxyTarget, type TunnelOptions } from './proxy';
export { ProxyAwareNetworkClient, createNetworkClient, parseRetryAfter, type HttpExchange, type NetworkClientOptions } from './network-client';
export { CacheCipher, EncryptedFileCachePlugin, bindingId, createEncryptedCachePlugin, forgetOtherSignIn, type CacheBinding, type EncryptedCacheOptions } from './token-cache';
export {
  createTokenProvider, signInBinding,
  type AuthCodeResponse, type AuthCodeStart, type AuthLogger, type DeviceCodeSession, type M365TokenProvider,
  type SignedInAccount, type TokenProviderDeps,
} from './token-provider';
