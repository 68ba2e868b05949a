import assert from 'node:assert/strict';
import { redactSecrets } from '../../../src/auth/redact';
import { redactSecrets as imapRedact } from '../../../src/imap/redact';
import { buildXOAuth2 } from '../../../src/auth/xoauth2';

const JWT = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL291dGxvb2sub2ZmaWNlMzY1LmNvbSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
const OPAQUE = 'EwBwA8l6BAAUkj1oRyH3pXxXcm0AAAQW9d8-opaque_token.value';

function oauthBearer(user: string, token: string): string {
  return Buffer.from(`n,a=${user},\x01host=outlook.office365.com\x01port=993\x01auth=Bearer ${token}\x01\x01`).toString('base64');
}

describe('redactSecrets (one redaction for every protocol)', () => {
  it('removes a bearer token whatever the letter case of "Bearer"', () => {
    for (const word of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const out = redactSecrets(`Authorization: ${word} ${OPAQUE}`);
      assert.ok(!out.includes(OPAQUE), out);
      assert.match(out, /\[redacted\]/);
    }
  });

  it('removes a base64 OAUTHBEARER payload, alone, after AUTHENTICATE and cut short', () => {
    const payload = oauthBearer('alice@contoso.com', OPAQUE);
    for (const line of [
      `C: A1 AUTHENTICATE OAUTHBEARER ${payload}`,
      `C: ${payload}`,
      `sent ${payload.slice(0, 60)}…`,
      `sent ${payload.slice(8)}`,
    ]) {
      const out = redactSecrets(line);
      assert.ok(!out.includes(payload.slice(8, 60)), `${line} → ${out}`);
    }
  });

  it('removes a base64 XOAUTH2 payload as POP3 sends it (on its own line after "+") and after AUTH', () => {
    const payload = buildXOAuth2('alice@contoso.com', OPAQUE);
    for (const line of [`C: ${payload}`, `AUTH XOAUTH2 ${payload}`, `x${payload.slice(3)}`]) {
      const out = redactSecrets(line);
      assert.ok(!out.includes(payload.slice(8, 60)), `${line} → ${out}`);
    }
  });

  it('keeps ordinary text and base64 that is no credential', () => {
    const text = 'A3 OK [READ-WRITE] SELECT completed; Message-ID <CAF=abc@mail.gmail.com> size 12345';
    assert.equal(redactSecrets(text), text);
    const attachment = Buffer.from('Just an ordinary attachment, nothing secret in it at all.').toString('base64');
    assert.equal(redactSecrets(attachment), attachment);
  });

  it('is the function IMAP uses', () => {
    assert.equal(imapRedact, redactSecrets);
    assert.equal(imapRedact(`auth=Bearer ${JWT}`), '[redacted]');
  });
});
