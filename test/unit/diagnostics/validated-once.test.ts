/**
 * One Test connection request validates the account once: the admin route validates, and
 * runConnectionTest and createTokenProvider take that result instead of validating again.
 */
import assert from 'node:assert/strict';
import { validateAccountConfig, type AccountConfig } from '../../../src/auth/account-config';
import { createTokenProvider } from '../../../src/auth/token-provider';
import { M365MailError } from '../../../src/core/errors';
import { runConnectionTest } from '../../../src/diagnostics/connection-test';

const VALID: AccountConfig = {
  tenant: '85d56e73-1db7-448c-bbcc-afeb9120ddff', clientId: 'ea1239f1-d7fa-4758-95b3-4f249f663f34',
  authType: 'client-secret', credentials: { clientSecret: 'Dmn8Q~k2v9x1TqWZr3LpYb7NcHs4JfMe0aUiGo5x' },
};

describe('account validation runs once per request', () => {
  it('runConnectionTest reports the caller\'s validation result, without validating again', async () => {
    assert.deepEqual(validateAccountConfig(VALID), []);
    const given = new M365MailError('found by the caller', { kind: 'config', fix: 'the caller\'s fix' });
    const steps = await runConnectionTest({ config: VALID, problems: [given], provider: undefined, mailbox: '' });
    assert.deepEqual(steps, [{ step: 'config', ok: false, detail: 'found by the caller', fix: 'the caller\'s fix', kind: 'config' }]);
  });

  it('createTokenProvider takes the caller\'s result; without one it validates itself', () => {
    const invalid: AccountConfig = { ...VALID, tenant: '' };
    assert.throws(() => createTokenProvider(invalid), { kind: 'config' });
    const problem = new M365MailError('given', { kind: 'config' });
    assert.throws(() => createTokenProvider(VALID, {}, [problem]), (error) => error === problem);
    createTokenProvider(VALID, {}, []).dispose();
  });
});
