import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { CONSUMERS_TENANT_ID, CONTOSO } from '../../env/identity/directory';
import type { IdentityServer } from '../../env/identity/server';
import { startTestIdentityServer } from './helpers';

type Json = Record<string, unknown>;

describe('identity server: discovery documents', () => {
  let server: IdentityServer;
  const lines: string[] = [];

  before(async () => {
    server = await startTestIdentityServer({ log: (line) => lines.push(line) });
  });
  after(async () => {
    await server.close();
  });

  async function getJson(path: string): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${server.url}${path}`);
    return { status: res.status, body: (await res.json()) as Json };
  }

  it('answers a verified domain with the GUID endpoints and issuer, as Entra does', async () => {
    const { status, body } = await getJson('/contoso.com/v2.0/.well-known/openid-configuration');
    assert.equal(status, 200);
    const base = `${server.url}/${CONTOSO.tenantId}`;
    assert.equal(body.issuer, `${base}/v2.0`);
    assert.equal(body.token_endpoint, `${base}/oauth2/v2.0/token`);
    assert.equal(body.authorization_endpoint, `${base}/oauth2/v2.0/authorize`);
    assert.equal(body.device_authorization_endpoint, `${base}/oauth2/v2.0/devicecode`);
    assert.equal(body.end_session_endpoint, `${base}/oauth2/v2.0/logout`);
    assert.equal(body.jwks_uri, `${base}/discovery/v2.0/keys`);
  });

  it('keeps common/consumers in the endpoints and uses the {tenantid} / consumers issuer', async () => {
    const common = (await getJson('/common/v2.0/.well-known/openid-configuration')).body;
    assert.equal(common.issuer, `${server.url}/{tenantid}/v2.0`);
    assert.equal(common.token_endpoint, `${server.url}/common/oauth2/v2.0/token`);
    const consumers = (await getJson('/consumers/v2.0/.well-known/openid-configuration')).body;
    assert.equal(consumers.issuer, `${server.url}/${CONSUMERS_TENANT_ID}/v2.0`);
  });

  it('answers an unknown tenant with 400 AADSTS90002 in the Entra error shape', async () => {
    const { status, body } = await getJson('/00000000-0000-0000-0000-000000000001/v2.0/.well-known/openid-configuration');
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_tenant');
    assert.deepEqual(body.error_codes, [90002]);
    assert.match(String(body.error_description), /^AADSTS90002: Tenant '00000000-0000-0000-0000-000000000001' not found\./);
    for (const key of ['timestamp', 'trace_id', 'correlation_id']) assert.equal(typeof body[key], 'string', key);
  });

  it('publishes the RS256 signing key that verifies minted tokens', async () => {
    const { body } = await getJson(`/${CONTOSO.tenantId}/discovery/v2.0/keys`);
    const [key] = body.keys as Json[];
    const token = server.mintAccessToken();
    const [header, payload, signature] = token.split('.');
    assert.equal(JSON.parse(Buffer.from(header, 'base64url').toString()).kid, key.kid);
    const publicKey = createPublicKey({ key: { kty: 'RSA', n: String(key.n), e: String(key.e) }, format: 'jwk' });
    assert.ok(verify('sha256', Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url')));
  });

  it('answers instance discovery with this host as the only alias', async () => {
    const authorize = encodeURIComponent(`${server.url}/contoso.com/oauth2/v2.0/authorize`);
    const { body } = await getJson(`/common/discovery/instance?api-version=1.1&authorization_endpoint=${authorize}`);
    assert.equal(body.tenant_discovery_endpoint, `${server.url}/contoso.com/v2.0/.well-known/openid-configuration`);
    assert.deepEqual(body.metadata, [{ preferred_network: server.hostPort, preferred_cache: server.hostPort, aliases: [server.hostPort] }]);
  });

  it('logs method, path and status only', async () => {
    await fetch(`${server.url}/${CONTOSO.tenantId}/oauth2/v2.0/token`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_secret=TOPSECRET',
    }).then((res) => res.arrayBuffer());
    assert.ok(lines.some((line) => line === `POST /${CONTOSO.tenantId}/oauth2/v2.0/token 400`), lines.join('\n'));
    assert.ok(lines.every((line) => !line.includes('TOPSECRET')));
  });
});
