import assert from 'node:assert/strict';
import { resolveEndpoints, type CloudName } from '../../../src/auth/clouds';
import { scopesFor } from '../../../src/auth/scopes';
import type { AuthType } from '../../../src/auth/account-config';

const GRAPH = /graph\.microsoft|User\.Read|Mail\.Read|chinacloudapi/i;

describe('auth/scopes', () => {
  const global = resolveEndpoints({ cloud: 'global', tenant: 'contoso.com' });

  it('asks for <resource>/.default only for app-only types', () => {
    assert.deepEqual(scopesFor('client-secret', global), ['https://outlook.office365.com/.default']);
    assert.deepEqual(scopesFor('client-certificate', global), ['https://outlook.office365.com/.default']);
  });

  it('asks for IMAP and POP delegated scopes plus offline_access for delegated types', () => {
    const expected = [
      'https://outlook.office.com/IMAP.AccessAsUser.All',
      'https://outlook.office.com/POP.AccessAsUser.All',
      'offline_access',
    ];
    assert.deepEqual(scopesFor('device-code', global), expected);
    assert.deepEqual(scopesFor('auth-code', global), expected);
  });

  it('asks only for the protocols given: no SMTP.Send for readers, SMTP.Send for a sender', () => {
    assert.deepEqual(scopesFor('device-code', global, ['imap']), ['https://outlook.office.com/IMAP.AccessAsUser.All', 'offline_access']);
    assert.ok(!scopesFor('device-code', global, ['imap', 'pop3']).some((s) => s.endsWith('SMTP.Send')));
    assert.deepEqual(scopesFor('device-code', global, ['smtp', 'imap']),
      ['https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send', 'offline_access']);
    assert.deepEqual(scopesFor('client-secret', global, ['smtp']), ['https://outlook.office365.com/.default']);
  });

  it('never includes a Graph scope for any cloud and auth type', () => {
    const clouds: CloudName[] = ['global', 'usgov', 'usdod', 'china', 'custom'];
    const types: AuthType[] = ['client-secret', 'client-certificate', 'device-code', 'auth-code'];
    for (const cloud of clouds) {
      const endpoints = resolveEndpoints({ cloud, tenant: 't', authorityHost: 'https://login.example' });
      for (const type of types) {
        for (const scope of scopesFor(type, endpoints, ['imap', 'pop3', 'smtp'])) assert.doesNotMatch(scope, GRAPH, `${cloud}/${type}: ${scope}`);
      }
    }
  });

  it('keeps every scope of one request on one resource', () => {
    const scopes = scopesFor('device-code', resolveEndpoints({ cloud: 'china', tenant: 't' }), ['imap', 'pop3', 'smtp']).filter((s) => s !== 'offline_access');
    assert.deepEqual(new Set(scopes.map((s) => new URL(s).origin)), new Set(['https://partner.outlook.cn']));
  });
});
