import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CheckpointStore, UidlSet } from '../../../src/state';

describe('UidlSet flush', () => {
  let root: string;

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'm365-uidl-set-'));
  });

  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  /** A store whose saves wait for the test, and that counts them. */
  function slowStore(): { store: CheckpointStore; saves: string[][]; release(): void } {
    const store = new CheckpointStore(root);
    const saves: string[][] = [];
    let gate: () => void = () => undefined;
    let opened = new Promise<void>((resolve) => { gate = resolve; });
    const original = store.set.bind(store);
    store.set = async (key, value) => {
      saves.push([...(value as { uidls: string[] }).uidls]);
      await opened;
      return original(key, value);
    };
    return {
      store,
      saves,
      release: () => {
        gate();
        opened = Promise.resolve();
      },
    };
  }

  it('shares the save under way between overlapping flushes and adds at most one more', async () => {
    const { store, saves, release } = slowStore();
    const set = await UidlSet.open(store, 'pop|box', { debounceMs: 60_000 });
    set.add('U1');
    const first = set.flush();
    set.add('U2');
    const second = set.flush();
    set.add('U3');
    const third = set.flush();
    release();
    await Promise.all([first, second, third]);
    assert.deepEqual(saves, [['U1'], ['U1', 'U2', 'U3']], 'one save under way, then one with everything changed meanwhile');
    const reopened = await UidlSet.open(new CheckpointStore(root), 'pop|box');
    assert.deepEqual([...reopened.values()].sort(), ['U1', 'U2', 'U3']);
  });

  it('a flush whose changes missed a failed save saves them itself; the failure goes to the failed save\'s caller', async () => {
    const store = new CheckpointStore(root);
    const original = store.set.bind(store);
    let calls = 0;
    store.set = async (key, value) => {
      calls++;
      if (calls === 1) throw new Error('disk full');
      return original(key, value);
    };
    const set = await UidlSet.open(store, 'pop|box', { debounceMs: 60_000 });
    set.add('U1');
    const failing = set.flush();
    set.add('U2');
    const later = set.flush();
    await assert.rejects(failing, /disk full/);
    await later;
    const reopened = await UidlSet.open(new CheckpointStore(root), 'pop|box');
    assert.deepEqual([...reopened.values()].sort(), ['U1', 'U2']);
  });
});
