import type { MailProtocol } from '../core/protocol';
import type { ExpectedToken } from './refused-login';
export type { MailProtocol };

/**
 * What mail clients need from the m365-account config node: a valid access token for the
 * protocol. One source is shared by every node of a config node, so implementations cache.
 */
export interface AccessTokenSource {
  /**
   * Returns a token valid for at least a few minutes. `forceRefresh` skips the cache, used once
   * after a server refused a token as expired.
   */
  getAccessToken(protocol: MailProtocol, options?: { forceRefresh?: boolean }): Promise<string>;
  /**
   * What this source's tokens should look like (kind, audience), so that a refused login can be
   * explained by the token that was sent (explainRefusedLogin). Optional: test fakes lack it.
   */
  expectedToken?(): ExpectedToken;
}
