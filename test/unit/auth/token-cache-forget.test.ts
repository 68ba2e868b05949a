import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CacheCipher, bindingId, forgetOtherSignIn } from '../../../src/auth/token-cache';

const BINDING = { clientId: '80f86c41-6b24-46e2-8c07-64bad3a8632d', tenant: 'contoso.com', authorityHost: 'https://login.microsoftonline.com' };

describe('auth/token-cache: forgetting a stored sign-in', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'm365-forget-'));
    file = path.join(dir, 'account.tokens');
    writeFileSync(file, await new CacheCipher('secret', bindingId(BINDING)).encrypt('{}'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the sign-in of the same app registration, tenant and cloud', async () => {
    assert.equal(await forgetOtherSignIn(file, { ...BINDING, clientId: BINDING.clientId.toUpperCase() }), false);
    assert.ok(existsSync(file));
  });

  it('deletes the sign-in when the client ID, the tenant or the cloud changed', async () => {
    assert.equal(await forgetOtherSignIn(file, { ...BINDING, clientId: '28bcc53a-e935-4ec0-9f9f-e4ecc13ab958' }), true);
    assert.ok(!existsSync(file));
  });

  it('deletes the sign-in when the account became app-only', async () => {
    assert.equal(await forgetOtherSignIn(file, undefined), true);
    assert.ok(!existsSync(file));
  });

  it('leaves a missing or unreadable file alone (the provider reports a damaged one when used)', async () => {
    assert.equal(await forgetOtherSignIn(path.join(dir, 'none.tokens'), BINDING), false);
    writeFileSync(file, 'not json');
    assert.equal(await forgetOtherSignIn(file, undefined), false);
    assert.ok(existsSync(file));
  });
});
