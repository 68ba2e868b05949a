import assert from 'node:assert/strict';
import { M365MailError } from '../../../src/core/errors';
import { explainRefusedToken } from '../../../src/pop3/poll-errors';

/** An unsigned JWT with these claims (only the payload is ever read). */
function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk`;
}

const refused = (): M365MailError => new M365MailError('POP3 AUTH failed: -ERR [AUTH] Authentication failed.', {
  kind: 'auth-failed', fix: 'generic fix', code: 'AUTH',
});
const exp = Math.floor(Date.now() / 1000) + 3600;

describe('pop3 explainRefusedToken (why Exchange refused a token)', () => {
  it('names a Graph token as wrong-audience, keeps the server answer and never asks for a fresh token', () => {
    const token = jwt({ aud: 'https://graph.microsoft.com', roles: [], exp });
    const error = explainRefusedToken(refused(), token);
    assert.equal(error.kind, 'wrong-audience');
    assert.equal(error.message, 'The access token is for Microsoft Graph, not for Exchange Online. POP3 AUTH failed: -ERR [AUTH] Authentication failed.');
    assert.match(error.fix, /outlook\.office365\.com\/\.default/);
    assert.equal(error.retryable, false);
    assert.equal(error.code, 'AUTH');
    assert.ok(!`${error.message}${error.fix}`.includes(token.split('.')[1]), 'no token in the error');
  });

  it('names an app-only Exchange token without POP.AccessAsApp as missing-permission', () => {
    const error = explainRefusedToken(refused(), jwt({ aud: 'https://outlook.office365.com', roles: ['IMAP.AccessAsApp'], exp }));
    assert.equal(error.kind, 'missing-permission');
    assert.match(error.message, /no POP\.AccessAsApp role for POP/);
  });

  it('leaves the error alone when the token looks right, is not a JWT, or the failure was not a refused login', () => {
    const good = jwt({ aud: 'https://outlook.office365.com', roles: ['POP.AccessAsApp'], exp });
    const original = refused();
    assert.equal(explainRefusedToken(original, good), original);
    assert.equal(explainRefusedToken(original, 'EwBwA8l6BAAU-opaque-consumer-token'), original);
    const network = new M365MailError('POP3 connection closed', { kind: 'network', retryable: true });
    assert.equal(explainRefusedToken(network, jwt({ aud: 'https://graph.microsoft.com', exp })), network);
  });
});
