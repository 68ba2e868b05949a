import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isM365MailError } from '../../../src/core/errors';
import { CheckpointStore } from '../../../src/state';

describe('CheckpointStore', () => {
  let root: string;
  let dir: string;
  let warnings: string[];
  const newStore = () => new CheckpointStore(dir, { onWarning: (message) => warnings.push(message) });

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'm365-state-'));
    dir = path.join(root, 'm365-mail');
    warnings = [];
  });

  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('returns undefined for a key never set, creating its folder', async () => {
    const store = newStore();
    assert.equal(await store.get('nothing'), undefined);
    assert.ok((await fs.stat(dir)).isDirectory());
    assert.deepEqual(warnings, []);
  });

  it('stores any key under a hashed file name and reads the value back', async () => {
    const store = newStore();
    const key = 'node-1|shared@contoso.com|Inbox/../Ünïcode 📬';
    await store.set(key, { lastUid: 7, list: ['a'] });
    assert.deepEqual(await store.get(key), { lastUid: 7, list: ['a'] });
    const files = await fs.readdir(dir);
    assert.deepEqual(files, [path.basename(store.fileFor(key))]);
    assert.match(files[0] ?? '', /^[0-9a-f]{64}\.json$/);
  });

  it('reads what an earlier instance wrote (restart)', async () => {
    await newStore().set('k', { uidValidity: '9', lastUid: 100 });
    const reopened = newStore();
    assert.deepEqual(await reopened.get('k'), { uidValidity: '9', lastUid: 100 });
  });

  it('keeps the last of many concurrent sets, and all of them resolve', async () => {
    const store = newStore();
    const writes = Array.from({ length: 50 }, (_, i) => store.set('race', { n: i }));
    await Promise.all(writes);
    assert.deepEqual(await store.get('race'), { n: 49 });
    assert.deepEqual(await newStore().get('race'), { n: 49 });
    assert.deepEqual((await fs.readdir(dir)).filter((name) => name.endsWith('.tmp')), []);
  });

  it('serialises sets on one key across two store instances on the same folder', async () => {
    const a = newStore();
    const b = newStore();
    await Promise.all([a.set('shared', 1), b.set('shared', 2), a.set('shared', 3)]);
    assert.equal(await b.get('shared'), 3);
  });

  it('gives read-your-writes: a get after a set sees the new value', async () => {
    const store = newStore();
    void store.set('k', 'first');
    const pending = store.set('k', 'second');
    assert.equal(await store.get('k'), 'second');
    await pending;
  });

  it('ignores and removes a temp file left by a crash mid-write', async () => {
    const first = newStore();
    await first.set('k', { lastUid: 5 });
    const target = first.fileFor('k');
    // What a crash between "write temp" and "rename" leaves behind.
    const leftover = `${target}.99999-deadbeef0000.tmp`;
    await fs.writeFile(leftover, '{"version":1,"key":"k","value":{"lastU');

    const afterRestart = newStore();
    assert.deepEqual(await afterRestart.get('k'), { lastUid: 5 });
    await assert.rejects(fs.stat(leftover), { code: 'ENOENT' });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /unfinished checkpoint write/);
  });

  it('reports a truncated record as a warning and reads it as missing, then recovers on set', async () => {
    const store = newStore();
    await store.set('k', { lastUid: 5 });
    const file = store.fileFor('k');
    const full = await fs.readFile(file, 'utf8');
    await fs.writeFile(file, full.slice(0, full.length / 2));

    const reopened = newStore();
    assert.equal(await reopened.get('k'), undefined);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /corrupt/);

    await reopened.set('k', { lastUid: 6 });
    assert.deepEqual(await reopened.get('k'), { lastUid: 6 });
  });

  it('treats empty files and JSON of another shape as corrupt, not as a crash', async () => {
    const store = newStore();
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(store.fileFor('empty'), '');
    await fs.writeFile(store.fileFor('other'), '[1,2,3]');
    assert.equal(await store.get('empty'), undefined);
    assert.equal(await store.get('other'), undefined);
    assert.equal(warnings.length, 2);
  });

  it('deletes a record durably, after a pending set of it', async () => {
    const store = newStore();
    void store.set('k', 1);
    await store.delete('k');
    assert.equal(await store.get('k'), undefined);
    assert.equal(await newStore().get('k'), undefined);
    await store.delete('never-existed');
  });

  it('keeps other keys apart', async () => {
    const store = newStore();
    await Promise.all([store.set('a', 'A'), store.set('b', 'B')]);
    assert.equal(await store.get('a'), 'A');
    assert.equal(await store.get('b'), 'B');
  });

  it('rejects with kind storage when the folder cannot be created', async () => {
    const blocker = path.join(root, 'file');
    await fs.writeFile(blocker, 'x');
    const store = new CheckpointStore(path.join(blocker, 'sub'));
    const error = await store.set('k', 1).then(() => assert.fail('expected a rejection'), (e: unknown) => e);
    assert.ok(isM365MailError(error));
    assert.equal(error.kind, 'storage');
    assert.ok(error.fix.length > 0);
  });
});
