import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Suffix of temp files; anything ending in it is a leftover of an interrupted write. */
export const TEMP_SUFFIX = '.tmp';

/** Temp file names currently being written by this process (never cleaned up under our feet). */
const inFlight = new Set<string>();

/**
 * Replaces `filePath` with `data` so that a crash at any point leaves either the old or the new
 * content, never a mix: write a temp file in the same folder, fsync it, rename it over the target,
 * then fsync the folder so the rename itself is durable.
 */
export async function writeFileAtomic(filePath: string, data: string): Promise<void> {
  const tempPath = `${filePath}.${process.pid}-${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`;
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
  await syncDirectory(path.dirname(filePath));
}

/** Removes `filePath` and makes the removal durable. Missing files are fine. */
export async function removeFileDurably(filePath: string): Promise<void> {
  await fs.rm(filePath, { force: true });
  await syncDirectory(path.dirname(filePath));
}

/**
 * Deletes temp files left by writes that never reached their rename (a crash or a kill), except
 * the ones this process is writing right now. Returns the names removed.
 */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await fs.readdir(dir)) {
    const full = path.join(dir, name);
    if (!name.endsWith(TEMP_SUFFIX) || inFlight.has(full)) continue;
    await fs.rm(full, { force: true });
    removed.push(name);
  }
  return removed;
}

// Directory fsync is how POSIX makes a rename durable; Windows cannot open folders for it.
async function syncDirectory(dir: string): Promise<void> {
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
