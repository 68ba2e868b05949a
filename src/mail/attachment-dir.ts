import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { M365MailError } from '../core/errors';
import { toSafeFilename, withDuplicateSuffix } from './safe-filename';

/**
 * How many ` (n)` suffixes are tried in turn. Past them (a folder holding a thousand
 * `image001.png`) a random suffix is used: counting on would cost one open per file already there,
 * and no count may ever run out.
 */
const NUMBERED_DUPLICATES = 1_000;
/** Random suffixes tried before giving up: 48 random bits collide only when something is very wrong. */
const RANDOM_DUPLICATES = 20;

function storageError(message: string, fix: string, cause: unknown): M365MailError {
  return new M365MailError(message, { kind: 'storage', fix, cause, code: errnoCode(cause) });
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Creates the attachment folder when missing (like `mkdir -p`), checks it is a writable folder
 * and returns its real path (symlinks resolved), which every saved file must sit directly in.
 * Throws M365MailError kind `storage` otherwise.
 */
export async function prepareAttachmentDir(dir: string): Promise<string> {
  const absolute = path.resolve(dir);
  const fix = `Set "attachmentDir" to a folder the Node-RED user can write to, or create ${absolute} and give that user write permission.`;
  try {
    await fs.mkdir(absolute, { recursive: true });
    const real = await fs.realpath(absolute);
    const stats = await fs.stat(real);
    if (!stats.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    await fs.access(real, fsConstants.W_OK | fsConstants.X_OK);
    return real;
  } catch (error) {
    throw storageError(`Attachment folder ${absolute} is not usable (${errnoCode(error) ?? 'error'})`, fix, error);
  }
}

/** A file created exclusively for one attachment. */
export interface CreatedFile {
  path: string;
  handle: FileHandle;
}

/**
 * Creates a new file for `requestedName` directly inside `realDir` (a path from
 * {@link prepareAttachmentDir}). The name is sanitised, and ` (1)`, ` (2)`… are added while a file
 * of that name exists: the exclusive open (`wx`) never overwrites or follows an existing file or
 * symlink. The resolved path is checked to be a direct child of `realDir`.
 */
export async function createUniqueFile(realDir: string, requestedName: string | undefined): Promise<CreatedFile> {
  const safeName = toSafeFilename(requestedName);
  for (let n = 0; n <= NUMBERED_DUPLICATES + RANDOM_DUPLICATES; n++) {
    const suffix = n <= NUMBERED_DUPLICATES ? n : randomBytes(6).toString('hex');
    const candidate = path.resolve(realDir, withDuplicateSuffix(safeName, suffix));
    assertDirectChild(realDir, candidate);
    try {
      const handle = await fs.open(candidate, 'wx', 0o600);
      return { path: candidate, handle };
    } catch (error) {
      if (errnoCode(error) === 'EEXIST') continue;
      throw storageError(
        `Cannot create attachment file in ${realDir} (${errnoCode(error) ?? 'error'})`,
        'Check that the attachment folder is writable and the disk is not full.',
        error,
      );
    }
  }
  throw storageError(
    `No free file name like "${safeName}" in ${realDir}`,
    'Check the attachment folder: even randomly named files already exist there.',
    undefined,
  );
}

/** Defence in depth: the sanitiser should already make this impossible. */
function assertDirectChild(realDir: string, candidate: string): void {
  if (path.dirname(candidate) !== realDir || path.basename(candidate) === '..') {
    throw new M365MailError(`Refused attachment path outside ${realDir}`, {
      kind: 'storage',
      fix: 'This is a bug in the attachment name sanitiser; please report it with the mail that caused it.',
    });
  }
}
