import assert from 'node:assert/strict';
import { CLOUDS, resolveEndpoints } from '../../../src/auth/clouds';

describe('auth/clouds', () => {
  it('resolves the global cloud with outlook.office.com delegated scopes and outlook.office365.com app-only', () => {
    const e = resolveEndpoints({ cloud: 'global', tenant: 'contoso.onmicrosoft.com' });
    assert.equal(e.authorityHost, 'https://login.microsoftonline.com');
    assert.equal(e.authority, 'https://login.microsoftonline.com/contoso.onmicrosoft.com');
    assert.deepEqual(e.imap, { host: 'outlook.office365.com', port: 993 });
    assert.deepEqual(e.pop3, { host: 'outlook.office365.com', port: 995 });
    assert.deepEqual(e.delegatedScopes(['imap', 'pop3']), [
      'https://outlook.office.com/IMAP.AccessAsUser.All',
      'https://outlook.office.com/POP.AccessAsUser.All',
    ]);
    assert.deepEqual(e.delegatedScopes(['pop3']), ['https://outlook.office.com/POP.AccessAsUser.All']);
    assert.equal(e.appOnlyScope, 'https://outlook.office365.com/.default');
  });

  it('defaults to the global cloud when cloud is empty', () => {
    assert.equal(resolveEndpoints({ tenant: 't' }).authorityHost, CLOUDS.global.authorityHost);
  });

  it('uses login.microsoftonline.us and outlook.office365.us for GCC High', () => {
    const e = resolveEndpoints({ cloud: 'usgov', tenant: 'x' });
    assert.equal(e.authorityHost, 'https://login.microsoftonline.us');
    assert.equal(e.imap.host, 'outlook.office365.us');
    assert.equal(e.pop3.host, 'outlook.office365.us');
    assert.equal(e.appOnlyScope, 'https://outlook.office365.us/.default');
    assert.equal(e.delegatedScopes(['imap'])[0], 'https://outlook.office365.us/IMAP.AccessAsUser.All');
  });

  it('uses outlook-dod.office365.us for DoD with the US Government authority', () => {
    const e = resolveEndpoints({ cloud: 'usdod', tenant: 'x' });
    assert.equal(e.authorityHost, 'https://login.microsoftonline.us');
    assert.equal(e.imap.host, 'outlook-dod.office365.us');
    assert.equal(e.appOnlyScope, 'https://outlook-dod.office365.us/.default');
  });

  it('uses login.partner.microsoftonline.cn and partner.outlook.cn for 21Vianet', () => {
    const e = resolveEndpoints({ cloud: 'china', tenant: 'x' });
    assert.equal(e.authorityHost, 'https://login.partner.microsoftonline.cn');
    assert.equal(e.imap.host, 'partner.outlook.cn');
    assert.equal(e.pop3.port, 995);
    assert.equal(e.appOnlyScope, 'https://partner.outlook.cn/.default');
  });

  it('ignores host fields saved in the flow for a known cloud', () => {
    const e = resolveEndpoints({ cloud: 'usgov', tenant: 'x', imapHost: 'outlook.office365.com', imapPort: 143 });
    assert.deepEqual(e.imap, { host: 'outlook.office365.us', port: 993 });
  });

  it('takes authority host, mail hosts, ports and resource as given for a custom cloud', () => {
    const e = resolveEndpoints({
      cloud: 'custom', tenant: 'contoso.com', authorityHost: 'https://127.0.0.1:8443/',
      imapHost: '127.0.0.1', imapPort: '1993', pop3Host: '127.0.0.2', pop3Port: 1995, smtpHost: '127.0.0.3', smtpPort: '1587',
      resource: 'https://mail.test/',
    });
    assert.equal(e.authority, 'https://127.0.0.1:8443/contoso.com');
    assert.deepEqual(e.imap, { host: '127.0.0.1', port: 1993 });
    assert.deepEqual(e.pop3, { host: '127.0.0.2', port: 1995 });
    assert.deepEqual(e.smtp, { host: '127.0.0.3', port: 1587 });
    assert.equal(e.appOnlyScope, 'https://mail.test/.default');
    assert.deepEqual(e.delegatedScopes(['pop3', 'imap']), ['https://mail.test/IMAP.AccessAsUser.All', 'https://mail.test/POP.AccessAsUser.All']);
    assert.deepEqual(e.delegatedScopes(['smtp']), ['https://mail.test/SMTP.Send']);
  });

  it('submits mail at smtp.office365.com:587, and personal accounts at smtp-mail.outlook.com:587', () => {
    assert.deepEqual(resolveEndpoints({ cloud: 'global', tenant: 'contoso.com' }).smtp, { host: 'smtp.office365.com', port: 587 });
    assert.deepEqual(resolveEndpoints({ cloud: 'global', tenant: 'consumers' }).smtp, { host: 'smtp-mail.outlook.com', port: 587 });
    assert.deepEqual(resolveEndpoints({ cloud: 'global', tenant: '9188040d-6c67-4c5b-b112-36a304b66dad' }).smtp.host, 'smtp-mail.outlook.com');
    // Flow values of another cloud never leak into a known one.
    assert.deepEqual(resolveEndpoints({ cloud: 'usgov', tenant: 't', smtpHost: 'evil.example', smtpPort: 25 }).smtp, { host: 'smtp.office365.us', port: 587 });
    assert.equal(resolveEndpoints({ cloud: 'china', tenant: 't' }).smtp.host, 'smtp.partner.outlook.cn');
  });

  it('asks for SMTP.Send on the delegated resource of each cloud', () => {
    assert.deepEqual(resolveEndpoints({ cloud: 'global', tenant: 't' }).delegatedScopes(['smtp']), ['https://outlook.office.com/SMTP.Send']);
    assert.deepEqual(resolveEndpoints({ cloud: 'usgov', tenant: 't' }).delegatedScopes(['smtp']), ['https://outlook.office365.us/SMTP.Send']);
    assert.deepEqual(resolveEndpoints({ cloud: 'china', tenant: 't' }).delegatedScopes(['smtp']), ['https://partner.outlook.cn/SMTP.Send']);
  });

  it('falls back to global endpoints for what a custom cloud leaves empty', () => {
    const e = resolveEndpoints({ cloud: 'custom', tenant: 't', authorityHost: 'https://login.example' });
    assert.equal(e.imap.host, 'outlook.office365.com');
    assert.deepEqual(e.smtp, { host: 'smtp.office365.com', port: 587 });
    assert.equal(e.appOnlyScope, 'https://outlook.office365.com/.default');
  });
});
