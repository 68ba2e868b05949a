/**
 * A random key kept in a file with owner-only permissions, created once and then read on every
 * start (the token cache key when Node-RED's credential encryption is off). Synchronous because
 * Node-RED constructs nodes synchronously.
 *
 * The file is never seen half-written: the key goes to a temp file (fsynced), which is then
 * hard-linked to the final name; the link fails with EEXIST when another process got there first,
 * and then that one's key is used. A file that is not a whole key (an empty file left by a crash of
 * an older version, which wrote the key in place) is moved aside and replaced the same way.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { M365MailError } from '../core/errors';
import { tempPathFor } from './atomic-file';

/** 32 random bytes as hex, as this module writes them. */
const KEY_LENGTH = 64;

/**
 * Creates `dir` (and its parents) if missing and makes it owner-only (0700): it holds the key and
 * the encrypted sign-ins. Permission bits are a POSIX matter; where chmod is refused, the folder
 * is left as it is.
 */
export function ensurePrivateDirSync(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  } catch {
    // e.g. a folder owned by another user; the files inside are 0600 all the same
  }
}

/** The key in `filePath`, created on first use. Throws M365MailError 'storage' when it can't be. */
export function readOrCreateKeyFileSync(filePath: string): string {
  try {
    ensurePrivateDirSync(path.dirname(filePath));
    // Three rounds cover losing a race to another process twice; every round either returns or
    // removed a broken file.
    for (let round = 0; round < 3; round++) {
      const existing = readKey(filePath);
      if (existing.state === 'valid') return existing.key;
      if (existing.state === 'broken') moveBrokenAside(filePath);
      const created = createExclusive(filePath);
      if (created) return created;
    }
  } catch (error) {
    throw new M365MailError(`The key file ${filePath} could not be read or created (${(error as NodeJS.ErrnoException).code ?? 'error'}).`, {
      kind: 'storage', cause: error,
      fix: 'Make sure the Node-RED user directory is writable, or set credentialSecret in settings.js.',
    });
  }
  throw new M365MailError(`The key file ${filePath} keeps changing under this process.`, {
    kind: 'storage', fix: 'Make sure only one Node-RED uses this user directory, then restart it.',
  });
}

type KeyRead = { state: 'valid'; key: string } | { state: 'missing' } | { state: 'broken' };

function readKey(filePath: string): KeyRead {
  let text: string;
  try {
    text = readFileSync(filePath, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    throw error;
  }
  // Empty, or a cut-off key of ours: what a crash in the middle of an in-place write leaves. Any
  // other content is someone's chosen key and is used as it is.
  const cutOff = text.length < KEY_LENGTH && /^[0-9a-f]*$/.test(text);
  return cutOff ? { state: 'broken' } : { state: 'valid', key: text };
}

/**
 * Moves a broken key file out of the way. If what was moved turns out to be a whole key (another
 * process replaced the broken file between our read and the move), it is put back.
 */
function moveBrokenAside(filePath: string): void {
  const aside = `${filePath}.${process.pid}-${randomBytes(6).toString('hex')}.broken`;
  try {
    renameSync(filePath, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else moved it
    throw error;
  }
  try {
    if (readKey(aside).state === 'valid') linkOrKeepOther(aside, filePath);
  } finally {
    rmSync(aside, { force: true });
  }
}

/** Writes a new key under a temp name and links it into place; undefined when another was first. */
function createExclusive(filePath: string): string | undefined {
  const key = randomBytes(KEY_LENGTH / 2).toString('hex');
  const tempPath = tempPathFor(filePath);
  try {
    const fd = openSync(tempPath, 'wx', 0o600);
    try {
      writeSync(fd, key);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return linkOrKeepOther(tempPath, filePath) ? key : undefined;
  } finally {
    rmSync(tempPath, { force: true });
  }
}

/** Hard-links `from` to `to` unless `to` exists; true when the link was made. */
function linkOrKeepOther(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}
