import assert from 'node:assert/strict';
import { M365MailError } from '../../../src/core/errors';
import { exchangeResourceFor, explainRefusedLogin, type ExpectedToken } from '../../../src/auth/refused-login';
import { resolveEndpoints } from '../../../src/auth/clouds';
import { explainRefusedToken } from '../../../src/pop3/poll-errors';
import type { AccessTokenSource } from '../../../src/auth/token-source';

/** An unsigned JWT with these claims (only the payload is ever read). */
function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk`;
}

const exp = Math.floor(Date.now() / 1000) + 3600;
const refused = (text = 'POP3 AUTH failed: -ERR [AUTH] Authentication failed.'): M365MailError => new M365MailError(text, {
  kind: 'auth-failed', fix: 'generic fix', code: 'AUTH',
});
const appOnly: ExpectedToken = {
  kind: 'app-only', requestedResource: 'https://outlook.office365.com', exchangeResource: 'https://outlook.office365.com', clientId: 'ea1239f1-d7fa-4758-95b3-4f249f663f34',
};
const noSecretIn = (error: M365MailError, token: string): void => {
  assert.ok(!`${error.message}${error.fix}`.includes(token.split('.')[1]), 'no token in the error');
};

describe('auth explainRefusedLogin (why Exchange refused a token, for every protocol)', () => {
  it('names the audience the token has and the one Exchange wants, and the setting that asked for the wrong one', () => {
    const token = jwt({ aud: 'https://graph.microsoft.com', roles: ['IMAP.AccessAsApp'], exp });
    const expected: ExpectedToken = { ...appOnly, requestedResource: 'https://graph.microsoft.com' };
    const error = explainRefusedLogin(refused('IMAP server refused the access token (AUTHENTICATE failed).'), token, 'imap', expected);
    assert.equal(error.kind, 'wrong-audience');
    assert.equal(error.message, 'The access token is for "https://graph.microsoft.com" (Microsoft Graph), but Exchange Online wants "https://outlook.office365.com". '
      + 'IMAP server refused the access token (AUTHENTICATE failed).');
    assert.match(error.fix, /^The account requests tokens for https:\/\/graph\.microsoft\.com: set its Resource \(cloud "custom"\) to https:\/\/outlook\.office365\.com/);
    assert.equal(error.retryable, false, 'a fresh token of the same configuration would not help');
    assert.equal(error.code, 'AUTH');
    noSecretIn(error, token);
  });

  it('names any other audience the same way', () => {
    const token = jwt({ aud: 'api://my-own-api', roles: ['POP.AccessAsApp'], exp });
    const error = explainRefusedLogin(refused(), token, 'pop3', { ...appOnly, exchangeResource: 'https://outlook.office365.us', requestedResource: 'https://outlook.office365.us' });
    assert.equal(error.kind, 'wrong-audience');
    assert.match(error.message, /^The access token is for "api:\/\/my-own-api", but Exchange Online wants "https:\/\/outlook\.office365\.us"\./);
    assert.doesNotMatch(error.fix, /set its Resource/, 'the account asked for the right resource');
  });

  it('names the permission a token lacks, per protocol and kind of token', () => {
    const cases: Array<[Parameters<typeof explainRefusedLogin>[2], Record<string, unknown>, ExpectedToken, RegExp]> = [
      ['imap', { aud: 'https://outlook.office365.com', roles: ['POP.AccessAsApp'] }, appOnly, /no IMAP\.AccessAsApp role for IMAP/],
      ['pop3', { aud: 'https://outlook.office365.com', roles: ['IMAP.AccessAsApp'] }, appOnly, /no POP\.AccessAsApp role for POP/],
      ['smtp', { aud: 'https://outlook.office365.com', roles: ['IMAP.AccessAsApp', 'POP.AccessAsApp'] }, appOnly, /no SMTP\.SendAsApp role for SMTP/],
      ['pop3', { aud: 'https://outlook.office.com', scp: 'IMAP.AccessAsUser.All' },
        { kind: 'delegated', requestedResource: 'https://outlook.office.com', exchangeResource: 'https://outlook.office.com' }, /no POP\.AccessAsUser\.All scope for POP/],
      ['smtp', { aud: 'https://outlook.office.com', scp: 'IMAP.AccessAsUser.All' },
        { kind: 'delegated', requestedResource: 'https://outlook.office.com', exchangeResource: 'https://outlook.office.com' }, /no SMTP\.Send scope for SMTP/],
    ];
    for (const [protocol, claims, expected, message] of cases) {
      const token = jwt({ ...claims, exp });
      const error = explainRefusedLogin(refused(), token, protocol, expected);
      assert.equal(error.kind, 'missing-permission', `${protocol}: ${error.message}`);
      assert.match(error.message, message);
      assert.match(error.fix, /Office 365 Exchange Online.*admin consent/);
      noSecretIn(error, token);
    }
  });

  it('points at the mailbox side only, per protocol, when the token looks right', () => {
    const switches = { imap: /ImapEnabled \$true/, pop3: /PopEnabled \$true/, smtp: /SmtpClientAuthenticationDisabled \$false/ } as const;
    for (const protocol of ['imap', 'pop3', 'smtp'] as const) {
      const roles = ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp'];
      const error = explainRefusedLogin(refused('refused.'), jwt({ aud: 'https://outlook.office365.com', roles, exp }), protocol, appOnly);
      assert.equal(error.kind, 'auth-failed');
      assert.match(error.message, /^refused\. The token looks right \(for https:\/\/outlook\.office365\.com, with \w+\.\w+\): the mailbox side refused it\.$/);
      assert.match(error.fix, switches[protocol]);
      assert.match(error.fix, /New-ServicePrincipal -AppId ea1239f1-d7fa-4758-95b3-4f249f663f34/);
      assert.doesNotMatch(error.fix, /Microsoft Graph|admin consent/);
    }
    const delegated = explainRefusedLogin(refused(), jwt({ aud: 'https://outlook.office.com', scp: 'POP.AccessAsUser.All', exp }), 'pop3', undefined);
    assert.match(delegated.fix, /PopEnabled.*FullAccess/);
    assert.doesNotMatch(delegated.fix, /New-ServicePrincipal/);
  });

  it('leaves an opaque token or an error that is no refused login alone', () => {
    const original = refused();
    assert.equal(explainRefusedLogin(original, 'EwBwA8l6BAAU-opaque-consumer-token', 'imap', appOnly), original);
    const network = new M365MailError('POP3 connection closed', { kind: 'network', retryable: true });
    assert.equal(explainRefusedLogin(network, jwt({ aud: 'https://graph.microsoft.com', exp }), 'pop3', appOnly), network);
  });

  it('is what POP3 uses, with what the token source expects', () => {
    const source: AccessTokenSource = { getAccessToken: async () => '', expectedToken: () => ({ ...appOnly, requestedResource: 'https://graph.microsoft.com' }) };
    const error = explainRefusedToken(refused(), jwt({ aud: 'https://graph.microsoft.com', roles: [], exp }), source);
    assert.equal(error.kind, 'wrong-audience');
    assert.match(error.fix, /set its Resource/);
  });
});

describe('auth exchangeResourceFor (the audience Exchange wants from an account)', () => {
  const endpoints = (overrides: Record<string, string>): ReturnType<typeof resolveEndpoints> => resolveEndpoints({ tenant: 'contoso.com', ...overrides });
  it('is the cloud\'s own resource for the known clouds', () => {
    assert.equal(exchangeResourceFor(endpoints({ cloud: 'global' }), 'app-only'), 'https://outlook.office365.com');
    assert.equal(exchangeResourceFor(endpoints({ cloud: 'global' }), 'delegated'), 'https://outlook.office.com');
    assert.equal(exchangeResourceFor(endpoints({ cloud: 'usgov' }), 'app-only'), 'https://outlook.office365.us');
    assert.equal(exchangeResourceFor(endpoints({ cloud: 'china' }), 'delegated'), 'https://partner.outlook.cn');
  });

  it('is the Exchange resource of the cloud whose hosts a "custom" account uses, when its resource is not Exchange', () => {
    const graph = 'https://graph.microsoft.com';
    assert.equal(exchangeResourceFor(endpoints({ cloud: 'custom', resource: graph }), 'app-only'), 'https://outlook.office365.com');
    assert.equal(exchangeResourceFor(endpoints({ cloud: 'custom', resource: 'https://graph.microsoft.us', imapHost: 'outlook.office365.us' }), 'app-only'), 'https://outlook.office365.us');
    assert.equal(exchangeResourceFor(endpoints({ cloud: 'custom', resource: graph, authorityHost: 'https://login.partner.microsoftonline.cn', imapHost: '127.0.0.1' }), 'delegated'), 'https://partner.outlook.cn');
    assert.equal(exchangeResourceFor(endpoints({ cloud: 'custom', resource: 'https://outlook.office365.us' }), 'app-only'), 'https://outlook.office365.us');
  });
});
