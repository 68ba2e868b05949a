import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CheckpointStore, UidlSet, loadImapCheckpoint, saveImapCheckpoint } from '../../../src/state';

describe('typed checkpoints', () => {
  let root: string;
  let warnings: string[];
  const newStore = () => new CheckpointStore(root, { onWarning: (message) => warnings.push(message) });

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'm365-typed-'));
    warnings = [];
  });

  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  describe('ImapCheckpoint', () => {
    it('saves UIDVALIDITY as a string (also from a bigint) and reads it back after a restart', async () => {
      const saved = await saveImapCheckpoint(newStore(), 'n1|box|INBOX', { uidValidity: 3857529045n, lastUid: 1200 });
      assert.equal(saved.uidValidity, '3857529045');
      const loaded = await loadImapCheckpoint(newStore(), 'n1|box|INBOX');
      assert.deepEqual(loaded, saved);
      assert.ok(!Number.isNaN(Date.parse(loaded?.updatedAt ?? '')));
    });

    it('keeps the watcher\'s savedAt and the dispositions still to apply; a record without savedAt falls back to updatedAt', async () => {
      const store = newStore();
      await saveImapCheckpoint(store, 'k', { uidValidity: 7, lastUid: 40, savedAt: 1_700_000_000_123, pending: [{ uid: 39, attempts: 2 }] });
      const loaded = await loadImapCheckpoint(store, 'k');
      assert.equal(loaded?.savedAt, 1_700_000_000_123, 'to the millisecond');
      assert.deepEqual(loaded?.pending, [{ uid: 39, attempts: 2 }]);
      await store.set('old', { uidValidity: '7', lastUid: 40, updatedAt: '2026-01-02T03:04:05.678Z' });
      const old = await loadImapCheckpoint(store, 'old');
      assert.equal(old?.savedAt, Date.parse('2026-01-02T03:04:05.678Z'));
      assert.equal(old?.pending, undefined);
      await store.set('bad-pending', { uidValidity: '7', lastUid: 40, updatedAt: '2026-01-02T03:04:05.678Z', pending: [{ uid: 'x' }] });
      assert.equal(await loadImapCheckpoint(store, 'bad-pending'), undefined);
    });

    it('returns undefined when there is no checkpoint yet', async () => {
      assert.equal(await loadImapCheckpoint(newStore(), 'fresh'), undefined);
    });

    it('ignores a stored record of the wrong shape with a warning', async () => {
      const store = newStore();
      await store.set('bad', { uidValidity: 5, lastUid: -1 });
      assert.equal(await loadImapCheckpoint(store, 'bad'), undefined);
      assert.equal(warnings.length, 1);
    });

    it('refuses to save a nonsensical position', async () => {
      await assert.rejects(saveImapCheckpoint(newStore(), 'k', { uidValidity: 'abc', lastUid: 1 }), TypeError);
      await assert.rejects(saveImapCheckpoint(newStore(), 'k', { uidValidity: 1, lastUid: 1.5 }), TypeError);
    });
  });

  describe('UidlSet', () => {
    it('remembers added UIDLs across a restart once flushed', async () => {
      const set = await UidlSet.open(newStore(), 'pop|box');
      set.add('UID-1');
      set.add('UID-2');
      set.add('UID-1');
      assert.equal(set.size, 2);
      await set.flush();

      const reopened = await UidlSet.open(newStore(), 'pop|box');
      assert.ok(reopened.has('UID-1') && reopened.has('UID-2'));
      assert.equal(reopened.size, 2);
      await reopened.close();
    });

    it('coalesces a burst of changes into the debounced save', async () => {
      const store = newStore();
      let sets = 0;
      const originalSet = store.set.bind(store);
      store.set = async (key, value) => {
        sets++;
        return originalSet(key, value);
      };
      const set = await UidlSet.open(store, 'burst', { debounceMs: 20 });
      for (let i = 0; i < 500; i++) set.add(`U${i}`);
      await set.close();
      assert.equal(sets, 1);
      assert.equal((await UidlSet.open(newStore(), 'burst')).size, 500);
    });

    it('saves by itself after the debounce delay', async () => {
      const store = newStore();
      const saved = new Promise<void>((resolve) => {
        const originalSet = store.set.bind(store);
        store.set = async (key, value) => {
          await originalSet(key, value);
          resolve();
        };
      });
      const set = await UidlSet.open(store, 'timer', { debounceMs: 10 });
      set.add('U1');
      await saved;
      assert.ok((await UidlSet.open(newStore(), 'timer')).has('U1'));
    });

    it('prune keeps only what the server still lists', async () => {
      const set = await UidlSet.open(newStore(), 'prune');
      ['a', 'b', 'c', 'd'].forEach((uidl) => set.add(uidl));
      assert.equal(set.prune(['b', 'd', 'new']), 2);
      assert.deepEqual([...set.values()].sort(), ['b', 'd']);
      assert.equal(set.has('new'), false, 'prune does not add');
      await set.flush();
      assert.deepEqual([...(await UidlSet.open(newStore(), 'prune')).values()].sort(), ['b', 'd']);
    });

    it('handles 20,000 UIDLs quickly: add, prune, save and reload', async () => {
      const started = process.hrtime.bigint();
      const set = await UidlSet.open(newStore(), 'large');
      const uidls = Array.from({ length: 20_000 }, (_, i) => `AAMkAGI2TG93AAA=${i.toString().padStart(8, '0')}`);
      uidls.forEach((uidl) => set.add(uidl));
      assert.equal(set.prune(uidls.slice(1000)), 1000);
      await set.flush();
      const reopened = await UidlSet.open(newStore(), 'large');
      assert.equal(reopened.size, 19_000);
      assert.ok(reopened.has(uidls[19_999] ?? '') && !reopened.has(uidls[0] ?? ''));
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      assert.ok(elapsedMs < 2000, `took ${elapsedMs.toFixed(0)} ms`);
    });

    it('flush with nothing changed writes nothing', async () => {
      const store = newStore();
      const set = await UidlSet.open(store, 'idle');
      await set.flush();
      assert.deepEqual(await fs.readdir(root), []);
    });

    it('starts empty, with a warning, when the stored list is malformed', async () => {
      const store = newStore();
      await store.set('bad', { uidls: [1, 2] });
      const set = await UidlSet.open(store, 'bad');
      assert.equal(set.size, 0);
      assert.equal(warnings.length, 1);
    });
  });
});
