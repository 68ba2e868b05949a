import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UNNAMED_TEMP_MAX_AGE_MS, removeStaleTempFiles, writeFileAtomic } from '../../../src/state/atomic-file';

/** A pid that surely belongs to no process: one of a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

/** Another process that runs until killed. */
async function liveProcess(): Promise<ChildProcess & { pid: number }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('spawn', resolve));
  return child as ChildProcess & { pid: number };
}

describe('state/atomic-file: clean-up of unfinished writes', () => {
  let root: string;
  let dir: string;
  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'm365-atomic-'));
    dir = path.join(root, 'state');
    await fs.mkdir(dir);
  });
  afterEach(() => fs.rm(root, { recursive: true, force: true }));

  it('removes a temp file of a process that no longer runs, and one of an earlier process with this pid', async () => {
    const dead = `a.json.${await deadPid()}-0123456789ab.tmp`;
    const olderToken = `account-x.tokens.${await deadPid()}.89abcdef.tmp`; // the token cache's earlier naming
    const samePid = `b.json.${process.pid}-0123456789ab.tmp`; // a container restarts with the same pid
    for (const name of [dead, olderToken, samePid]) await fs.writeFile(path.join(dir, name), 'partial');
    assert.deepEqual((await removeStaleTempFiles(dir)).sort(), [dead, olderToken, samePid].sort());
    assert.deepEqual(await fs.readdir(dir), []);
  });

  it('keeps a temp file that another running process is writing', async () => {
    const other = await liveProcess();
    try {
      const name = `a.json.${other.pid}-0123456789ab.tmp`;
      await fs.writeFile(path.join(dir, name), 'being written');
      assert.deepEqual(await removeStaleTempFiles(dir), []);
      assert.deepEqual(await fs.readdir(dir), [name]);
    } finally {
      other.kill();
    }
  });

  it('keeps a temp file without a process id until it is over an hour old', async () => {
    const name = 'foreign.tmp';
    const file = path.join(dir, name);
    await fs.writeFile(file, 'x');
    assert.deepEqual(await removeStaleTempFiles(dir), []);
    const old = new Date(Date.now() - UNNAMED_TEMP_MAX_AGE_MS - 60_000);
    await fs.utimes(file, old, old);
    assert.deepEqual(await removeStaleTempFiles(dir), [name]);
  });

  // All nodes run from one bundle, so the checkpoint store's clean-up and the token cache's writes
  // share this module's record of the writes under way.
  it('never removes a temp file that this process is writing', async function () {
    this.timeout(60_000);
    const [writer, cleaner] = [{ writeFileAtomic }, { removeStaleTempFiles }];
    const data = 'x'.repeat(32 * 1024 * 1024);
    const target = path.join(dir, 'shared.json');
    let conclusive = 0;
    // A round counts when the clean-up finished while the write was still under way.
    for (let round = 0; round < 20 && conclusive < 3; round++) {
      let settled = false;
      const writing = writer.writeFileAtomic(target, data).finally(() => { settled = true; });
      while (!settled && !(await fs.readdir(dir)).some((name) => name.endsWith('.tmp'))) await new Promise((resolve) => setImmediate(resolve));
      const removed = await cleaner.removeStaleTempFiles(dir);
      if (!settled) conclusive += 1;
      await writing; // rejects (ENOENT at the rename) when the clean-up took the temp file
      assert.deepEqual(removed, []);
    }
    assert.ok(conclusive > 0, 'the clean-up ran during a write at least once');
    assert.equal((await fs.stat(target)).size, data.length);
  });

  it('still writes atomically and leaves no temp file', async () => {
    const target = path.join(dir, 'k.json');
    await writeFileAtomic(target, '{"a":1}');
    await writeFileAtomic(target, '{"a":2}');
    assert.equal(await fs.readFile(target, 'utf8'), '{"a":2}');
    assert.deepEqual(await fs.readdir(dir), ['k.json']);
  });
});
