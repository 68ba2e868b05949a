/**
 * Writes mail straight into Maildir++ folders the way an MTA does, so tests can seed thousands of
 * messages without going through SMTP/LMTP: write into tmp/, then rename into new/ (unseen) or
 * cur/ (with flags). The rename is atomic, so Dovecot never sees half a message.
 */
import { chownSync, closeSync, existsSync, mkdirSync, openSync, renameSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

/** Who must own what we create, when we run as root and Dovecot's mail processes do not. */
export interface MaildirOwner {
  uid: number;
  gid: number;
}

export interface MaildirMessageOptions {
  /** Store with the \Seen flag (in cur/ with info ":2,S"); default unseen in new/. */
  seen?: boolean;
  /** IMAP INTERNALDATE; Dovecot takes it from the file's mtime. Default now. */
  internalDate?: Date;
}

/**
 * Encodes a folder name in IMAP modified UTF-7 (RFC 3501 5.1.3), which is how Dovecot names
 * Maildir++ directories for non-ASCII folders.
 */
export function encodeImapUtf7(name: string): string {
  let out = '';
  let pending = '';
  const flush = (): void => {
    if (!pending) return;
    const utf16be = Buffer.from(pending, 'utf16le').swap16();
    out += '&' + utf16be.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
    pending = '';
  };
  for (const char of name) {
    const code = char.codePointAt(0) ?? 0;
    if (code >= 0x20 && code <= 0x7e) {
      flush();
      out += char === '&' ? '&-' : char;
    } else {
      pending += char;
    }
  }
  flush();
  return out;
}

/**
 * Directory of an IMAP folder inside a Maildir++ root. INBOX is the root itself; `Archive/2024`
 * (hierarchy separator "/", as Exchange uses) lives in `.Archive.2024`.
 */
export function maildirFolderDir(maildirRoot: string, folder = 'INBOX'): string {
  if (folder.toUpperCase() === 'INBOX') return maildirRoot;
  const parts = folder.split('/').filter(Boolean);
  if (parts.length === 0) throw new Error(`invalid folder name: ${JSON.stringify(folder)}`);
  for (const part of parts) {
    if (part.includes('.')) throw new Error(`folder names with "." cannot be stored in Maildir++: ${folder}`);
  }
  return path.join(maildirRoot, '.' + parts.map(encodeImapUtf7).join('.'));
}

function mkdirOwned(dir: string, owner?: MaildirOwner): void {
  if (existsSync(dir)) return;
  mkdirOwned(path.dirname(dir), owner);
  mkdirSync(dir, { mode: 0o700 });
  if (owner) chownSync(dir, owner.uid, owner.gid);
}

/** Creates a Maildir (cur/, new/, tmp/ — and the `maildirfolder` marker for subfolders). */
export function ensureMaildir(dir: string, isSubfolder: boolean, owner?: MaildirOwner): void {
  for (const sub of ['cur', 'new', 'tmp']) mkdirOwned(path.join(dir, sub), owner);
  const marker = path.join(dir, 'maildirfolder');
  if (isSubfolder && !existsSync(marker)) {
    writeFileSync(marker, '', { mode: 0o600 });
    if (owner) chownSync(marker, owner.uid, owner.gid);
  }
}

let deliveryCounter = 0;

/**
 * Writes one message into the Maildir `dir` (which must exist): tmp/ first, then an atomic rename
 * into new/ or cur/. Returns the final file path. Synchronous on purpose: seeding 1,000 mails
 * this way takes a few dozen milliseconds.
 */
export function writeMaildirMessage(
  dir: string,
  raw: string | Buffer,
  options: MaildirMessageOptions = {},
  owner?: MaildirOwner,
): string {
  const body = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  const date = options.internalDate ?? new Date();
  const seconds = Math.floor(date.getTime() / 1000);
  const micros = (date.getTime() % 1000) * 1000;
  // Unique per process and call; ",S=" lets Dovecot know the size without reading the file.
  const base = `${seconds}.M${micros}P${process.pid}Q${++deliveryCounter}.testbed,S=${body.length}`;
  const tmpPath = path.join(dir, 'tmp', base);
  const fd = openSync(tmpPath, 'wx', 0o600);
  try {
    writeSync(fd, body);
    if (owner) chownSync(tmpPath, owner.uid, owner.gid);
  } finally {
    closeSync(fd);
  }
  utimesSync(tmpPath, date, date);
  const finalPath = options.seen ? path.join(dir, 'cur', `${base}:2,S`) : path.join(dir, 'new', base);
  renameSync(tmpPath, finalPath);
  return finalPath;
}

