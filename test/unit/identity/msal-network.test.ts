/**
 * Pins down what MSAL 7.2 needs to stay on the local server: every URL it requests is recorded by
 * a network module that refuses anything but 127.0.0.1.
 */
import assert from 'node:assert/strict';
import {
  ConfidentialClientApplication, PublicClientApplication, type INetworkModule, type NetworkRequestOptions, type NetworkResponse,
} from '@azure/msal-node';
import { APPS, CONTOSO, USERS } from '../../env/identity/directory';
import type { IdentityServer } from '../../env/identity/server';
import { msalConfig, msalRejection, startTestIdentityServer } from './helpers';

/** Records URLs; forwards loopback requests with fetch and fails everything else. */
class RecordingNetwork implements INetworkModule {
  readonly urls: string[] = [];

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>(url, 'GET', options);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>(url, 'POST', options);
  }

  private async send<T>(url: string, method: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    this.urls.push(`${method} ${url}`);
    if (new URL(url).hostname !== '127.0.0.1') throw new Error(`refused to leave the test bed: ${url}`);
    const res = await fetch(url, { method, headers: options?.headers, body: method === 'POST' ? options?.body ?? '' : undefined });
    const headers: Record<string, string> = {};
    res.headers.forEach((value, key) => {
      headers[key] = value;
    });
    return { headers, status: res.status, body: (await res.json()) as T };
  }
}

describe('identity server: MSAL configuration that stays local', () => {
  let server: IdentityServer;

  before(async () => {
    server = await startTestIdentityServer();
  });
  after(async () => {
    await server.close();
  });

  it('with knownAuthorities MSAL only calls the openid-configuration and token endpoints of the server', async () => {
    const network = new RecordingNetwork();
    const config = msalConfig(server, 'contoso.com', APPS.daemon.clientId, { clientSecret: APPS.daemon.secret });
    const cca = new ConfidentialClientApplication({ ...config, system: { ...config.system, networkClient: network } });
    await cca.acquireTokenByClientCredential({ scopes: ['https://outlook.office365.com/.default'] });
    assert.deepEqual(network.urls.map((u) => u.replace(/\?.*$/, '')), [
      `GET ${server.url}/contoso.com/v2.0/.well-known/openid-configuration`,
      // The domain authority keeps its domain in the token URL (MSAL maps the GUID endpoint back).
      `POST ${server.url}/contoso.com/oauth2/v2.0/token`,
    ]);
  });

  it('uses the tenant-less endpoints for common with a multi-tenant public client', async () => {
    const network = new RecordingNetwork();
    const config = msalConfig(server, 'common', APPS.publicApp.clientId);
    const pca = new PublicClientApplication({ ...config, system: { ...config.system, networkClient: network } });
    const result = await pca.acquireTokenByDeviceCode({
      scopes: ['https://outlook.office.com/IMAP.AccessAsUser.All'],
      deviceCodeCallback: (response) => server.approveDeviceCode(response.userCode, USERS.alice),
    });
    assert.equal(result?.account?.tenantId, CONTOSO.tenantId);
    assert.ok(network.urls.every((u) => u.includes(`${server.url}/common/`)), network.urls.join('\n'));
  });

  it('without knownAuthorities MSAL tries instance discovery at login.microsoftonline.com', async () => {
    const network = new RecordingNetwork();
    const cca = new ConfidentialClientApplication({
      auth: { clientId: APPS.daemon.clientId, authority: `${server.url}/${CONTOSO.tenantId}`, clientSecret: APPS.daemon.secret },
      system: { networkClient: network },
    });
    const err = await msalRejection(cca.acquireTokenByClientCredential({ scopes: ['https://outlook.office365.com/.default'] }));
    assert.match(network.urls[0], /^GET https:\/\/login\.microsoftonline\.com\/common\/discovery\/instance\?/);
    assert.equal(err.errorCode, 'endpoints_resolution_error');
  });
});
