/**
 * The MSAL client of one account, chosen by its auth type: a confidential client (secret or
 * certificate) for app-only, a public client with the encrypted sign-in cache for delegated
 * sign-ins. MSAL talks through our network client (proxy, CA, timeout) and logs into ours.
 */
import {
  ConfidentialClientApplication,
  LogLevel,
  PublicClientApplication,
  type Configuration,
} from '@azure/msal-node';
import { isAppOnly, normalizeThumbprint, type AccountConfig, type AuthType } from './account-config';
import { resolveEndpoints, type ResolvedEndpoints } from './clouds';
import { createNetworkClient, type HttpExchange } from './network-client';
import { createEncryptedCachePlugin, type CacheBinding, type EncryptedFileCachePlugin } from './token-cache';
import type { TokenProviderDeps } from './token-provider-types';

export interface MsalClients {
  confidential?: ConfidentialClientApplication;
  publicClient?: PublicClientApplication;
  cachePlugin?: EncryptedFileCachePlugin;
}

/** What the provider hears from the identity server exchanges and from MSAL. */
export interface MsalHooks {
  onResponse(exchange: HttpExchange): void;
  onTransportError(error: Error): void;
  onLog(message: string, containsPii: boolean): void;
  onCacheProblem(problem: Error): void;
}

/**
 * What a stored delegated sign-in belongs to: app registration, tenant and cloud. Undefined for
 * app-only accounts, which keep no sign-in.
 */
export function signInBinding(config: AccountConfig): CacheBinding | undefined {
  if (isAppOnly(config.authType ?? 'client-secret')) return undefined;
  return { clientId: config.clientId, tenant: config.tenant, authorityHost: resolveEndpoints(config).authorityHost };
}

export function createMsalClients(
  config: AccountConfig,
  authType: AuthType,
  endpoints: ResolvedEndpoints,
  deps: TokenProviderDeps,
  hooks: MsalHooks,
): MsalClients {
  const networkClient = deps.networkClient ?? createNetworkClient({
    proxy: config.proxy,
    env: deps.env,
    ca: deps.ca,
    timeoutMs: deps.timeoutMs,
    onResponse: hooks.onResponse,
    onTransportError: hooks.onTransportError,
  });

  const authorityHostPort = new URL(endpoints.authorityHost).host;
  const msalConfig: Configuration = {
    auth: {
      clientId: config.clientId.trim(),
      authority: endpoints.authority,
      // Listing the host makes MSAL trust it without instance discovery, so it never calls
      // login.microsoftonline.com for a national or custom cloud.
      knownAuthorities: [authorityHostPort],
    },
    system: {
      networkClient,
      loggerOptions: {
        piiLoggingEnabled: false,
        logLevel: deps.msalLogLevel ?? LogLevel.Warning,
        loggerCallback: (_level, message, containsPii) => hooks.onLog(message, containsPii),
      },
    },
  };

  if (isAppOnly(authType)) {
    if (authType === 'client-certificate') {
      const thumbprint = normalizeThumbprint(config.certificateThumbprint);
      const privateKey = config.credentials?.privateKey ?? '';
      msalConfig.auth.clientCertificate = thumbprint?.algorithm === 'sha1'
        ? { thumbprint: thumbprint.hex, privateKey }
        : { thumbprintSha256: thumbprint?.hex ?? '', privateKey };
    } else {
      msalConfig.auth.clientSecret = config.credentials?.clientSecret ?? '';
    }
    return { confidential: new ConfidentialClientApplication(msalConfig) };
  }
  let cachePlugin: EncryptedFileCachePlugin | undefined;
  if (deps.cacheFile) {
    cachePlugin = createEncryptedCachePlugin({
      filePath: deps.cacheFile,
      secret: deps.cacheSecret ?? '',
      binding: signInBinding(config) as CacheBinding,
      onProblem: hooks.onCacheProblem,
    });
    msalConfig.cache = { cachePlugin };
  }
  return { publicClient: new PublicClientApplication(msalConfig), cachePlugin };
}
