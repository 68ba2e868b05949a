import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Suffix of temp files: `<target>.<pid>-<random>.tmp`, written by `writeFileAtomic`. */
export const TEMP_SUFFIX = '.tmp';

/** The writer's process id in a temp file name (also the older token cache's `.<pid>.<hex>.tmp`). */
const TEMP_NAME = /\.(\d+)[-.][0-9a-f]+\.tmp$/;

/** A temp file whose name names no writer is left alone until it is this old (a write takes ms). */
export const UNNAMED_TEMP_MAX_AGE_MS = 60 * 60_000;

/**
 * Temp files this process is writing right now (all nodes share one runtime bundle, so this is
 * one set per process): the checkpoint store never deletes what the token cache is writing.
 */
const inFlight = new Set<string>();

/**
 * Replaces `filePath` with `data` so that a crash at any point leaves either the old or the new
 * content, never a mix: write a temp file in the same folder, fsync it, rename it over the target,
 * then fsync the folder so the rename itself is durable.
 */
export async function writeFileAtomic(filePath: string, data: string): Promise<void> {
  await replaceFileUnsynced(filePath, data);
  await syncDirectory(path.dirname(filePath));
}

/**
 * `writeFileAtomic` without the folder fsync: the content is durable, the rename is not until the
 * caller calls `syncDirectory` on the folder. Lets a caller write many files and make all their
 * renames durable with one folder fsync (group commit).
 */
export async function replaceFileUnsynced(filePath: string, data: string): Promise<void> {
  const tempPath = tempPathFor(filePath);
  inFlight.add(tempPath);
  try {
    const handle = await fs.open(tempPath, 'wx', 0o600);
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tempPath, filePath);
  } catch (error) {
    await fs.rm(tempPath, { force: true }).catch(() => undefined);
    throw error;
  } finally {
    inFlight.delete(tempPath);
  }
}

/**
 * A fresh temp file name beside `filePath`, carrying this process's id, so that
 * `removeStaleTempFiles` can tell whether its writer still runs.
 */
export function tempPathFor(filePath: string): string {
  return `${filePath}.${process.pid}-${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`;
}

/** Removes `filePath` and makes the removal durable. Missing files are fine. */
export async function removeFileDurably(filePath: string): Promise<void> {
  await fs.rm(filePath, { force: true });
  await syncDirectory(path.dirname(filePath));
}

/**
 * Deletes temp files left by writes that never reached their rename (a crash or a kill), and only
 * those: a temp file named by a live process other than this one is being written (another
 * Node-RED on the same folder), one named by this process is left alone while any bundle of it is
 * writing it, and a name without a process id is left alone unless it is over an hour old.
 * A temp file with this process's id that nobody here is writing was left by an earlier process
 * that had the same id (containers restart with the same pid). Returns the names removed.
 */
export async function removeStaleTempFiles(dir: string, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await fs.readdir(dir)) {
    if (!name.endsWith(TEMP_SUFFIX)) continue;
    const full = path.join(dir, name);
    if (!(await isAbandoned(full, name, now))) continue;
    await fs.rm(full, { force: true });
    removed.push(name);
  }
  return removed;
}

async function isAbandoned(full: string, name: string, now: number): Promise<boolean> {
  const pid = Number(TEMP_NAME.exec(name)?.[1] ?? Number.NaN);
  if (pid === process.pid) return !inFlight.has(full);
  if (Number.isSafeInteger(pid) && pid > 0) return !isProcessAlive(pid);
  try {
    return now - (await fs.stat(full)).mtimeMs > UNNAMED_TEMP_MAX_AGE_MS;
  } catch {
    return false; // gone meanwhile
  }
}

/** Signal 0 checks that a process exists without touching it; EPERM means it exists as another user. */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Directory fsync is how POSIX makes a rename durable; Windows cannot open folders for it.
export async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw error;
  } finally {
    await handle?.close();
  }
}
