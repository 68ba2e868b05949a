/**
 * The provider renews by the token's real expiry: MSAL's expiresOn counts from its request time in
 * whole seconds and can lie after the token's `exp`, which hands out expired short-lived tokens.
 */
import assert from 'node:assert/strict';
import type { INetworkModule, NetworkResponse } from '@azure/msal-node';
import type { AccountConfig } from '../../../src/auth/account-config';
import { createTokenProvider } from '../../../src/auth/token-provider';

const AUTHORITY = 'https://login.example.test';
const TENANT = '85d56e73-1db7-448c-bbcc-afeb9120ddff';

function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2ln`;
}

/** An identity server answering client credentials with `expires_in` and a token whose `exp` is `expSec` from now. */
function fakeNetwork(expiresInSec: number, expSecFromNow: () => number): INetworkModule & { tokenRequests: number } {
  const network = {
    tokenRequests: 0,
    async sendGetRequestAsync<T>(): Promise<NetworkResponse<T>> {
      const base = `${AUTHORITY}/${TENANT}`;
      return {
        status: 200, headers: {},
        body: {
          token_endpoint: `${base}/oauth2/v2.0/token`, issuer: `${base}/v2.0`, jwks_uri: `${base}/discovery/v2.0/keys`,
          authorization_endpoint: `${base}/oauth2/v2.0/authorize`, end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        } as T,
      };
    },
    async sendPostRequestAsync<T>(): Promise<NetworkResponse<T>> {
      network.tokenRequests++;
      const exp = Math.floor(Date.now() / 1000) + expSecFromNow();
      return {
        status: 200, headers: {},
        body: { token_type: 'Bearer', expires_in: expiresInSec, access_token: unsignedJwt({ aud: 'https://outlook.office365.com', exp, n: network.tokenRequests }) } as T,
      };
    },
  };
  return network;
}

describe('auth/token-provider: expiry of short-lived tokens', () => {
  const config: AccountConfig = {
    cloud: 'custom', authorityHost: AUTHORITY, tenant: TENANT, clientId: 'ea1239f1-d7fa-4758-95b3-4f249f663f34',
    authType: 'client-secret', credentials: { clientSecret: 'secret-value' },
  };

  it('renews by the token\'s exp when it is earlier than MSAL\'s expiresOn', async () => {
    let clock = Date.now();
    // expires_in says 10 s, the token itself says 4 s (the server floored and the response was slow).
    const network = fakeNetwork(10, () => 4);
    const provider = createTokenProvider(config, { networkClient: network, now: () => clock });
    try {
      const first = await provider.getAccessToken('imap');
      clock += 3200; // past 3/4 of the token's 4 s (but not of the 10 s MSAL believes)
      const second = await provider.getAccessToken('imap');
      assert.notEqual(second, first, 'a new token before the old one expires');
      assert.equal(network.tokenRequests, 2);
    } finally {
      provider.dispose();
    }
  });

  it('ignores an exp far from expires_in (this machine\'s clock is off) and keeps the token', async () => {
    let clock = Date.now();
    // The token claims to have expired an hour ago: only a wrong local clock explains that.
    const network = fakeNetwork(3600, () => -3600);
    const provider = createTokenProvider(config, { networkClient: network, now: () => clock });
    try {
      const first = await provider.getAccessToken('imap');
      clock += 60_000;
      assert.equal(await provider.getAccessToken('imap'), first);
      assert.equal(network.tokenRequests, 1, 'no request storm on a skewed clock');
    } finally {
      provider.dispose();
    }
  });
});
