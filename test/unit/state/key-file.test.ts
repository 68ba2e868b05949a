import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { NodeAPI } from 'node-red';
import { cacheSecret, stateDir } from '../../../src/nodes/shared/storage';
import { readOrCreateKeyFileSync } from '../../../src/state/key-file';

/** Just enough of RED for the storage helpers: a user directory and credential encryption off. */
function fakeRed(userDir: string): NodeAPI {
  return { settings: { userDir, get: () => undefined } } as unknown as NodeAPI;
}

const modeOf = (file: string): number => statSync(file).mode & 0o777;

describe('state/key-file: the token cache key when credential encryption is off', () => {
  let userDir: string;
  beforeEach(() => { userDir = mkdtempSync(path.join(os.tmpdir(), 'm365-key-')); });
  afterEach(() => rmSync(userDir, { recursive: true, force: true }));

  it('creates a whole key once, owner-only, in an owner-only folder, and reads the same key after', () => {
    const key = cacheSecret(fakeRed(userDir));
    assert.match(key, /^[0-9a-f]{64}$/);
    const dir = path.join(userDir, 'm365-mail');
    assert.equal(modeOf(dir), 0o700);
    assert.equal(modeOf(path.join(dir, '.key')), 0o600);
    assert.equal(cacheSecret(fakeRed(userDir)), key);
    assert.deepEqual(readdirSync(dir), ['.key'], 'no temp file is left');
  });

  it('makes an existing state folder owner-only', () => {
    const dir = path.join(userDir, 'm365-mail');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    stateDir(fakeRed(userDir));
    assert.equal(modeOf(dir), 0o700);
  });

  it('recovers from an empty or cut-off key file left by a crash instead of failing for good', () => {
    const dir = path.join(userDir, 'm365-mail');
    mkdirSync(dir);
    for (const leftover of ['', '\n', '3fa9c0']) {
      writeFileSync(path.join(dir, '.key'), leftover);
      const key = cacheSecret(fakeRed(userDir));
      assert.match(key, /^[0-9a-f]{64}$/, JSON.stringify(leftover));
      assert.equal(readFileSync(path.join(dir, '.key'), 'utf8'), key);
      assert.equal(cacheSecret(fakeRed(userDir)), key);
    }
    assert.deepEqual(readdirSync(dir), ['.key']);
  });

  it('keeps a key someone wrote by hand', () => {
    const file = path.join(userDir, 'own.key');
    writeFileSync(file, 'my own long secret phrase\n');
    assert.equal(readOrCreateKeyFileSync(file), 'my own long secret phrase');
  });

  it('gives every process that starts at the same time the same key', async function () {
    this.timeout(60_000);
    const file = path.join(userDir, 'm365-mail', '.key');
    const script = `process.stdout.write(require(${JSON.stringify(path.resolve('src/state/key-file.ts'))}).readOrCreateKeyFileSync(${JSON.stringify(file)}))`;
    const run = promisify(execFile);
    const tsx = path.resolve('node_modules/.bin/tsx');
    const keys = await Promise.all(Array.from({ length: 4 }, () => run(tsx, ['-e', script]).then((r) => r.stdout)));
    assert.match(keys[0] ?? '', /^[0-9a-f]{64}$/);
    assert.deepEqual(new Set(keys).size, 1, keys.join('\n'));
    assert.equal(readFileSync(file, 'utf8'), keys[0]);
  });
});
