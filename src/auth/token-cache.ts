/**
 * Keeps the MSAL token cache of a delegated account (account + refresh token) across restarts in
 * one file, encrypted with AES-256-GCM under a key derived (scrypt) from a secret the caller owns,
 * such as Node-RED's credentialSecret. The file is bound to the app registration and tenant: when
 * either changes, the old sign-in is not used (and is overwritten on the next sign-in).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt as scryptCallback, type BinaryLike } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ICachePlugin, TokenCacheContext } from '@azure/msal-node';
import { M365MailError } from '../core/errors';
import { writeFileAtomic } from '../state/atomic-file';

export interface CacheBinding {
  clientId: string;
  tenant: string;
  authorityHost: string;
}

export interface EncryptedCacheOptions {
  filePath: string;
  /** Secret the key is derived from. Losing or changing it means signing in again. */
  secret: string;
  binding: CacheBinding;
  /**
   * Told about unreadable files (never with their content), and once about a failure to read or
   * write the file (told again only after the file worked meanwhile).
   */
  onProblem?: (problem: M365MailError) => void;
}

interface CacheFile {
  v: 1;
  binding: string;
  salt: string;
  iv: string;
  tag: string;
  data: string;
}

const SCRYPT_PARAMS = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

function scrypt(secret: BinaryLike, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(secret, salt, 32, SCRYPT_PARAMS, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Stable fingerprint of what the cache belongs to; stored in clear and authenticated as AAD. */
export function bindingId(binding: CacheBinding): string {
  const canonical = [binding.clientId.trim().toLowerCase(), binding.tenant.trim().toLowerCase(), binding.authorityHost.trim().toLowerCase().replace(/\/+$/, '')].join('|');
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * Encrypts/decrypts cache blobs. Exposed for tests and for callers that store the blob elsewhere.
 */
export class CacheCipher {
  private keyPromise?: Promise<Buffer>;
  private salt?: Buffer;

  constructor(private readonly secret: string, private readonly binding: string) {}

  private key(salt: Buffer): Promise<Buffer> {
    if (!this.keyPromise || !this.salt || !this.salt.equals(salt)) {
      this.salt = salt;
      this.keyPromise = scrypt(this.secret, salt);
    }
    return this.keyPromise;
  }

  async encrypt(plain: string): Promise<string> {
    const salt = this.salt ?? randomBytes(16);
    const key = await this.key(salt);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(this.binding, 'utf8'));
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const file: CacheFile = {
      v: 1, binding: this.binding, salt: salt.toString('base64'), iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64'),
    };
    return JSON.stringify(file);
  }

  /**
   * Returns the plain cache, or throws M365MailError 'sign-in-required' when the blob belongs to
   * another app/tenant, was written with another secret, or is damaged.
   */
  async decrypt(blob: string): Promise<string> {
    let file: CacheFile;
    try {
      file = JSON.parse(blob) as CacheFile;
    } catch {
      throw signInAgain('The stored sign-in is damaged.');
    }
    if (file.v !== 1 || typeof file.data !== 'string') throw signInAgain('The stored sign-in has an unknown format.');
    if (file.binding !== this.binding) {
      throw signInAgain('The stored sign-in belongs to another client ID, tenant or cloud.');
    }
    try {
      const key = await this.key(Buffer.from(file.salt, 'base64'));
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(file.iv, 'base64'));
      decipher.setAAD(Buffer.from(this.binding, 'utf8'));
      decipher.setAuthTag(Buffer.from(file.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(file.data, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw signInAgain('The stored sign-in could not be decrypted (the credential secret changed?).');
    }
  }
}

function signInAgain(message: string): M365MailError {
  return new M365MailError(message, {
    kind: 'sign-in-required', retryable: false,
    fix: 'Sign in again in the account settings (device code or browser sign-in).',
  });
}

/** Writes the file atomically (owner-only, temp file named so start-up clean-up leaves it alone). */
async function writeCacheFile(filePath: string, content: string): Promise<void> {
  await fs.mkdir(path.dirname(filePath), { recursive: true, mode: 0o700 });
  await writeFileAtomic(filePath, content);
}

function storageProblem(message: string, cause: unknown): M365MailError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new M365MailError(`${message} (${code ?? 'error'})`, {
    kind: 'storage', code, cause,
    fix: 'Check that the Node-RED user directory is writable and the disk is not full. Until then the sign-in lasts until Node-RED restarts.',
  });
}

/**
 * The MSAL cache plugin. MSAL calls beforeCacheAccess before it reads the cache and
 * afterCacheAccess after; we load the file once (and again if someone else rewrote it) and write
 * only when MSAL changed something.
 */
export class EncryptedFileCachePlugin implements ICachePlugin {
  private readonly cipher: CacheCipher;
  /** The cache as this process last knew it (loaded, or serialized after MSAL changed it). */
  private current?: string;
  /** Serialized form last written by us; avoids rewriting unchanged state. */
  private lastWritten?: string;
  /** The file's content as last read or written by us; avoids decrypting unchanged files. */
  private lastFileBlob?: string;
  /** Why the file could not be used, when it couldn't; the provider shows this when no account is found. */
  loadProblem?: M365MailError;
  /** A read or write of the file failed and that was reported; cleared when the file works again. */
  private storageFailing = false;

  constructor(private readonly options: EncryptedCacheOptions) {
    this.cipher = new CacheCipher(options.secret, bindingId(options.binding));
  }

  get filePath(): string {
    return this.options.filePath;
  }

  /**
   * MSAL replaces its memory with whatever this hook deserializes (acquireTokenSilent starts by
   * overwriting the in-memory cache from the last snapshot), so every path hands it the current
   * state: the file when someone else changed it, else what this process holds — also when the
   * file is unchanged, missing or unreadable. Skipping that made a silent request right after a
   * sign-in or a refresh find no refresh token.
   */
  async beforeCacheAccess(context: TokenCacheContext): Promise<void> {
    let blob: string;
    try {
      blob = await fs.readFile(this.options.filePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.reportStorage(storageProblem('The stored sign-in could not be read', err), true);
      this.restore(context);
      return;
    }
    if (blob === this.lastFileBlob) {
      this.restore(context);
      return;
    }
    try {
      const plain = await this.cipher.decrypt(blob);
      context.tokenCache.deserialize(plain);
      this.lastFileBlob = blob;
      this.current = plain;
      this.lastWritten = plain;
      this.loadProblem = undefined;
    } catch (err) {
      this.lastFileBlob = blob;
      this.report(err instanceof M365MailError ? err : signInAgain('The stored sign-in could not be loaded.'));
      this.restore(context);
    }
  }

  async afterCacheAccess(context: TokenCacheContext): Promise<void> {
    if (!context.cacheHasChanged) return;
    const plain = context.tokenCache.serialize();
    this.current = plain;
    if (plain === this.lastWritten) return;
    const blob = await this.cipher.encrypt(plain);
    try {
      await writeCacheFile(this.options.filePath, blob);
    } catch (err) {
      // The token MSAL just got is valid and stays in memory (`current`): a full disk or a
      // read-only folder must not fail the request. The next change tries the file again.
      this.reportStorage(storageProblem('The sign-in could not be stored; it lasts until Node-RED restarts', err), false);
      return;
    }
    this.storageFailing = false;
    this.lastWritten = plain;
    this.lastFileBlob = blob;
    this.loadProblem = undefined;
  }

  private restore(context: TokenCacheContext): void {
    if (this.current !== undefined) context.tokenCache.deserialize(this.current);
  }

  /** Deletes the file (sign-out). */
  async clear(): Promise<void> {
    await fs.rm(this.options.filePath, { force: true });
    this.lastFileBlob = undefined;
    this.lastWritten = undefined;
    this.current = undefined;
  }

  /** Reports a storage failure once per run of failures; `load` also makes it the load problem. */
  private reportStorage(problem: M365MailError, load: boolean): void {
    if (load) this.loadProblem = problem;
    if (this.storageFailing) return;
    this.storageFailing = true;
    this.options.onProblem?.(problem);
  }

  private report(problem: M365MailError): void {
    this.loadProblem = problem;
    this.options.onProblem?.(problem);
  }
}

/** Creates the encrypted file cache plugin for a delegated account. */
export function createEncryptedCachePlugin(options: EncryptedCacheOptions): EncryptedFileCachePlugin {
  if (!options.secret) {
    throw new M365MailError('No secret to encrypt the stored sign-in with.', {
      kind: 'config', fix: 'Set credentialSecret in Node-RED\'s settings.js (or let Node-RED generate one) and restart.',
    });
  }
  return new EncryptedFileCachePlugin(options);
}

/**
 * Deletes the stored sign-in at `filePath` unless it belongs to `binding` (the account's current
 * app registration, tenant and cloud). With no binding (an app-only account) any stored sign-in
 * goes. So changing the client ID forgets the old user instead of keeping their refresh token.
 * Resolves true when a file was deleted; never rejects.
 */
export async function forgetOtherSignIn(filePath: string, binding: CacheBinding | undefined): Promise<boolean> {
  let stored: unknown;
  try {
    stored = JSON.parse(await fs.readFile(filePath, 'utf8'));
  } catch {
    // Missing: nothing to forget. Unreadable or damaged: the provider reports it when it is used.
    return false;
  }
  const boundTo = stored && typeof stored === 'object' ? (stored as Partial<CacheFile>).binding : undefined;
  if (binding && boundTo === bindingId(binding)) return false;
  try {
    await fs.rm(filePath, { force: true });
    return true;
  } catch {
    return false;
  }
}
