/**
 * A real Dovecot 2.3 as the stand-in for Exchange Online in integration tests.
 *
 * `startDovecot()` writes a config into a fresh temp dir (never /etc/dovecot), runs
 * `dovecot -F -c FILE` as a child process and resolves once IMAP and POP3 greet over TLS.
 * Tokens are really validated: each mailbox has its own `oauth2` passdb that posts the token to
 * the identity server's introspection endpoint for that mailbox.
 *
 * How Dovecot refuses a token (observed on 2.3.19, asserted in test/integration/testbed): not
 * at once like Exchange. It first sends a SASL continuation with a base64 JSON error,
 * `+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0=`
 * ({"status":"401","schemes":"bearer","scope":"mail"}), the client must answer with an empty
 * line, and only then, about 0.5 s later, comes `A1 NO [AUTHENTICATIONFAILED] Authentication
 * failed.` or `-ERR [AUTH] Authentication failed.`. Exchange answers `A1 NO AUTHENTICATE
 * failed.` / `-ERR Authentication failure: unknown user name or bad password.` directly.
 * Clients must handle both (imapflow does). POP3 takes the XOAUTH2 response either on the AUTH
 * line or, after `AUTH XOAUTH2` and a `+ ` prompt, on a line of its own.
 *
 * Capabilities of the exchange profile: before login EXCHANGE_IMAP_CAPABILITIES plus
 * AUTH=XOAUTH2 (and AUTH=PLAIN with basic-auth users); after login Dovecot sends
 * `imap_capability` alone, i.e. the same list without AUTH=. Without basic-auth users Dovecot
 * also adds LOGINDISABLED before login (no PLAIN mechanism means no LOGIN command). The greeting
 * carries [CAPABILITY ...] (Exchange's does not). POP3 CAPA is fixed in Dovecot's pop3-login:
 * TOP, UIDL, RESP-CODES, PIPELINING, AUTH-RESP-CODE, USER (always, over TLS), SASL <mechanisms>.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, chownSync, constants, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  EXCHANGE_DEFAULT_FOLDERS,
  mailboxMaildir,
  renderDovecotConfig,
  type BasicAuthUser,
  type DovecotPorts,
  type DovecotProcessUsers,
  type DovecotProfile,
} from './dovecot-config';
import { ensureMaildir, maildirFolderDir, writeMaildirMessage, type MaildirMessageOptions, type MaildirOwner } from './maildir';
import { findFreePort, waitForGreeting } from './ports';

export { EXCHANGE_IMAP_CAPABILITIES, EXCHANGE_DEFAULT_FOLDERS } from './dovecot-config';
export type { BasicAuthUser, DovecotProfile } from './dovecot-config';

export const DOVECOT_BINARY = process.env.M365_TESTBED_DOVECOT ?? '/usr/sbin/dovecot';
export const DOVEADM_BINARY = process.env.M365_TESTBED_DOVEADM ?? 'doveadm';

export interface DovecotOptions {
  tls: { certFile: string; keyFile: string; caFile: string };
  /** Mailbox addresses, e.g. alice@contoso.com. */
  mailboxes: string[];
  /** Introspection endpoint Dovecot posts each token to when someone opens `mailbox`. */
  introspectionUrl: (mailbox: string) => string;
  /** passwd-file users with plain passwords (for benchmarking basic-auth clients). */
  basicAuthUsers?: BasicAuthUser[];
  /** `exchange` (default) advertises Exchange Online's capabilities; `standard` is stock Dovecot plus OAUTHBEARER. */
  profile?: DovecotProfile;
  /** Also listen for plain IMAP/POP3 with STARTTLS/STLS required, on 127.0.0.2. */
  starttls?: boolean;
  /** Folders to create in every mailbox besides INBOX; default Exchange's standard folders for the exchange profile. */
  folders?: string[];
  /** auth_debug + mail_debug in the log. */
  debug?: boolean;
  /**
   * Advertise these IMAP capabilities instead of the profile's (AUTH= is added by Dovecot), e.g.
   * Exchange's list without IDLE. Dovecot still accepts commands it does not advertise.
   */
  imapCapabilities?: readonly string[];
  /**
   * Also run Dovecot's SMTP submission service on the STARTTLS host (plain, STARTTLS before AUTH),
   * whose XOAUTH2 logins are checked by `introspectionUrl` and whose accepted mail goes to the
   * plain SMTP server at 127.0.0.1:`relayPort`. Needs the package dovecot-submissiond.
   */
  submission?: { relayPort: number; introspectionUrl: (mailbox: string) => string };
  /** Keep the temp dir after stop() (also with M365_TESTBED_KEEP=1), to read the log. */
  keepBaseDir?: boolean;
  /** How long start/restart may take. Default 10 s. */
  startTimeoutMs?: number;
}

export interface DeliverOptions extends MaildirMessageOptions {
  /** IMAP folder name ("/" separated, any Unicode); default INBOX. Created when missing. */
  folder?: string;
}

export interface MessageInfo {
  uid: number;
  flags: string[];
}

export interface FolderStatus {
  messages: number;
  unseen: number;
  uidnext: number;
  uidvalidity: number;
}

export interface DovecotServer {
  /** '127.0.0.1' — implicit TLS listeners. */
  readonly host: string;
  readonly imapPort: number;
  readonly pop3Port: number;
  /** '127.0.0.2' — STARTTLS listeners, when `starttls` was asked for. */
  readonly starttlsHost: string;
  readonly imapStarttlsPort?: number;
  readonly pop3StarttlsPort?: number;
  /** Dovecot's SMTP submission (STARTTLS) on `starttlsHost`, when `submission` was asked for. */
  readonly submissionPort?: number;
  readonly profile: DovecotProfile;
  readonly baseDir: string;
  readonly configFile: string;
  readonly logFile: string;
  /** Drops a message into a mailbox (atomic Maildir write). */
  deliver(mailbox: string, raw: string | Buffer, options?: DeliverOptions): Promise<void>;
  /** Drops many messages at once; 1,000 mails take a few dozen ms. */
  deliverMany(mailbox: string, raws: Array<string | Buffer>, options?: DeliverOptions): Promise<void>;
  /** Creates a folder ("/" separated) in a mailbox. */
  createFolder(mailbox: string, name: string): Promise<void>;
  /** Cuts every IMAP/POP3 session of that mailbox (`doveadm kick`). */
  kick(mailbox: string): Promise<void>;
  /** messages/unseen/uidnext/uidvalidity of one folder, as Dovecot sees them. */
  folderStatus(mailbox: string, folder?: string): Promise<FolderStatus>;
  /** UID and flags of every message in a folder. */
  listMessages(mailbox: string, folder?: string): Promise<MessageInfo[]>;
  /** Folder names of a mailbox. */
  listFolders(mailbox: string): Promise<string[]>;
  /** Runs `doveadm -c <config> ...args` and returns its stdout. */
  doveadm(args: string[]): Promise<string>;
  /** Stops and starts Dovecot on the same ports with the same mail. */
  restart(): Promise<void>;
  /** Stops Dovecot and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

const STARTTLS_HOST = '127.0.0.2';

function lookupPasswd(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((entry) => entry.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * As root, Dovecot refuses to run login processes as root and to give mail access to uid 0, so it
 * uses Debian's `dovecot`/`dovenull` accounts and `nobody` owns the Maildirs. As a normal user,
 * that user is everything.
 */
function resolveProcessUsers(): DovecotProcessUsers {
  const me = os.userInfo();
  if (me.uid !== 0) {
    const group = execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();
    return { internalUser: me.username, internalGroup: group, loginUser: me.username, mailUid: me.uid, mailGid: me.gid };
  }
  const nobody = lookupPasswd('nobody');
  if (!lookupPasswd('dovecot') || !lookupPasswd('dovenull') || !nobody) {
    throw new Error('running as root needs the users dovecot, dovenull and nobody (Debian dovecot-core creates the first two)');
  }
  return { internalUser: 'dovecot', internalGroup: 'dovecot', loginUser: 'dovenull', mailUid: nobody.uid, mailGid: nobody.gid };
}

/**
 * Where the temp dir goes: $M365_TESTBED_TMPDIR, else /dev/shm when it has room (creating a file
 * on a VM's disk can take a millisecond, which makes seeding thousands of mails slow), else the
 * system temp dir.
 */
function tempRoot(): string {
  if (process.env.M365_TESTBED_TMPDIR) return process.env.M365_TESTBED_TMPDIR;
  try {
    const shm = statfsSync('/dev/shm');
    accessSync('/dev/shm', constants.W_OK);
    if (shm.bavail * shm.bsize >= 512 * 1024 * 1024) return '/dev/shm';
  } catch {
    // no usable tmpfs
  }
  return os.tmpdir();
}

/** Runs a command; resolves with stdout when its exit code is in `okCodes`. */
function run(file: string, args: string[], okCodes: number[] = [0]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', timeout: 10_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      if (okCodes.includes(code)) resolve(stdout);
      else reject(new Error(`${path.basename(file)} ${args.join(' ')} failed (exit ${code}): ${stderr.trim() || stdout.trim() || error?.message}`));
    });
  });
}

function tailOf(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

class DovecotInstance implements DovecotServer {
  readonly host = '127.0.0.1';
  readonly starttlsHost = STARTTLS_HOST;
  readonly imapPort: number;
  readonly pop3Port: number;
  readonly imapStarttlsPort?: number;
  readonly pop3StarttlsPort?: number;
  readonly submissionPort?: number;
  readonly profile: DovecotProfile;
  readonly configFile: string;
  readonly logFile: string;
  private child?: ChildProcess;
  private childExit?: Promise<void>;
  private startupError?: Error;
  private stopped = false;
  private readonly killOnExit = (): void => {
    this.killGroup();
  };

  constructor(
    readonly baseDir: string,
    ports: DovecotPorts,
    private readonly options: DovecotOptions,
    private readonly owner: MaildirOwner | undefined,
    private readonly caPem: string,
  ) {
    this.imapPort = ports.imap;
    this.pop3Port = ports.pop3;
    this.imapStarttlsPort = ports.imapStarttls;
    this.pop3StarttlsPort = ports.pop3Starttls;
    this.submissionPort = ports.submission;
    this.profile = options.profile ?? 'exchange';
    this.configFile = path.join(baseDir, 'conf', 'dovecot.conf');
    this.logFile = path.join(baseDir, 'dovecot.log');
  }

  /** Spawns the master process and waits until every listener greets. */
  async spawnAndWait(): Promise<void> {
    let stderr = '';
    this.startupError = undefined;
    // Own process group, so stop() can end master and all its children at once.
    const child = spawn(DOVECOT_BINARY, ['-F', '-c', this.configFile], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    this.childExit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.startupError = new Error(`dovecot exited (${signal ?? code}): ${stderr.trim()}\n${tailOf(this.logFile)}`);
        if (this.child === child) this.child = undefined;
        resolve();
      });
      child.once('error', (error) => {
        this.startupError = error;
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    process.once('exit', this.killOnExit);

    const timeoutMs = this.options.startTimeoutMs ?? 10_000;
    const abort = (): Error | undefined => this.startupError;
    // The first IMAP line may be "* OK Waiting for authentication process to respond..":
    // only the real greeting ("... ready.") shows that auth is up too.
    const probes = [
      { host: this.host, port: this.imapPort, caPem: this.caPem, expect: /^\* OK .*ready\.$/ },
      { host: this.host, port: this.pop3Port, caPem: this.caPem, expect: /^\+OK .*ready\.$/ },
      ...(this.imapStarttlsPort ? [{ host: this.starttlsHost, port: this.imapStarttlsPort, expect: /^\* OK / }] : []),
      ...(this.pop3StarttlsPort ? [{ host: this.starttlsHost, port: this.pop3StarttlsPort, expect: /^\+OK / }] : []),
      ...(this.submissionPort ? [{ host: this.starttlsHost, port: this.submissionPort, expect: /^220 / }] : []),
    ];
    try {
      await Promise.all(probes.map((probe) => waitForGreeting(probe, { timeoutMs, abort })));
    } catch (error) {
      await this.stopProcess(false);
      throw error;
    }
  }

  private killGroup(): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /**
   * Ends the running master. `graceful` sends SIGTERM and waits for Dovecot's own shutdown, which
   * always sleeps one second for its log process; otherwise the whole process group gets SIGKILL,
   * which is instant and safe for throw-away data (Maildir and Dovecot's indexes survive crashes).
   */
  async stopProcess(graceful: boolean): Promise<void> {
    process.removeListener('exit', this.killOnExit);
    const child = this.child;
    const exited = this.childExit;
    if (!child || !exited) return;
    if (!graceful) this.killGroup();
    else child.kill('SIGTERM');
    const timer = setTimeout(() => this.killGroup(), 5000);
    await exited;
    clearTimeout(timer);
  }

  private maildir(mailbox: string): string {
    const key = mailbox.toLowerCase();
    if (!this.options.mailboxes.some((known) => known.toLowerCase() === key)) {
      throw new Error(`unknown mailbox ${mailbox}; the test bed has ${this.options.mailboxes.join(', ')}`);
    }
    return mailboxMaildir(this.baseDir, key);
  }

  private folderDir(mailbox: string, folder = 'INBOX'): string {
    const root = this.maildir(mailbox);
    const dir = maildirFolderDir(root, folder);
    ensureMaildir(dir, dir !== root, this.owner);
    return dir;
  }

  async deliver(mailbox: string, raw: string | Buffer, options: DeliverOptions = {}): Promise<void> {
    writeMaildirMessage(this.folderDir(mailbox, options.folder), raw, options, this.owner);
  }

  async deliverMany(mailbox: string, raws: Array<string | Buffer>, options: DeliverOptions = {}): Promise<void> {
    const dir = this.folderDir(mailbox, options.folder);
    for (const raw of raws) writeMaildirMessage(dir, raw, options, this.owner);
  }

  async createFolder(mailbox: string, name: string): Promise<void> {
    this.folderDir(mailbox, name);
  }

  async kick(mailbox: string): Promise<void> {
    // Exit code 68 (EX_NOUSER) means "no users kicked": nothing was open, which is fine.
    await run(DOVEADM_BINARY, ['-c', this.configFile, 'kick', mailbox.toLowerCase()], [0, 68]);
  }

  async folderStatus(mailbox: string, folder = 'INBOX'): Promise<FolderStatus> {
    const out = await this.doveadm(['-f', 'flow', 'mailbox', 'status', '-u', mailbox.toLowerCase(), 'messages unseen uidnext uidvalidity', folder]);
    const fields = Object.fromEntries(out.trim().split(/\s+/).map((pair) => pair.split('=') as [string, string]));
    return {
      messages: Number(fields.messages),
      unseen: Number(fields.unseen),
      uidnext: Number(fields.uidnext),
      uidvalidity: Number(fields.uidvalidity),
    };
  }

  async listMessages(mailbox: string, folder = 'INBOX'): Promise<MessageInfo[]> {
    const out = await this.doveadm(['-f', 'tab', 'fetch', '-u', mailbox.toLowerCase(), 'uid flags', 'mailbox', folder]);
    // First line is the header "uid\tflags".
    return out.split('\n').slice(1).filter(Boolean).map((line) => {
      const [uid, flags = ''] = line.split('\t');
      // \Recent is per session (doveadm's own session claims it), so it says nothing here.
      return { uid: Number(uid), flags: flags.split(' ').filter((flag) => flag && flag !== '\\Recent') };
    });
  }

  async listFolders(mailbox: string): Promise<string[]> {
    const out = await this.doveadm(['mailbox', 'list', '-u', mailbox.toLowerCase()]);
    return out.split('\n').filter(Boolean);
  }

  doveadm(args: string[]): Promise<string> {
    return run(DOVEADM_BINARY, ['-c', this.configFile, ...args]);
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new Error('dovecot was stopped');
    await this.stopProcess(true);
    await this.spawnAndWait();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.stopProcess(false);
    if (!this.options.keepBaseDir && process.env.M365_TESTBED_KEEP !== '1') {
      rmSync(this.baseDir, { recursive: true, force: true });
    }
  }
}

/** Writes the config into a fresh temp dir, starts Dovecot and waits until it accepts TLS connections. */
export async function startDovecot(options: DovecotOptions): Promise<DovecotServer> {
  if (options.mailboxes.length === 0) throw new Error('startDovecot needs at least one mailbox');
  const users = resolveProcessUsers();
  const owner = process.getuid?.() === 0 && users.mailUid !== 0 ? { uid: users.mailUid, gid: users.mailGid } : undefined;
  const baseDir = mkdtempSync(path.join(tempRoot(), 'm365-dovecot-'));
  try {
    // Dovecot's unprivileged processes must traverse the base dir and read the config files.
    chmodSync(baseDir, 0o755);
    const confDir = path.join(baseDir, 'conf');
    for (const dir of [confDir, path.join(baseDir, 'run'), path.join(baseDir, 'state')]) mkdirSync(dir, { mode: 0o755 });
    const mailDir = path.join(baseDir, 'mail');
    mkdirSync(mailDir, { mode: 0o700 });
    if (owner) chownSync(mailDir, owner.uid, owner.gid);
    copyFileSync(options.tls.caFile, path.join(confDir, 'ca.pem'));
    chmodSync(path.join(confDir, 'ca.pem'), 0o644);

    const ports: DovecotPorts = {
      imap: await findFreePort('127.0.0.1'),
      pop3: await findFreePort('127.0.0.1'),
      ...(options.starttls ? { imapStarttls: await findFreePort(STARTTLS_HOST), pop3Starttls: await findFreePort(STARTTLS_HOST) } : {}),
      ...(options.submission ? { submission: await findFreePort(STARTTLS_HOST) } : {}),
    };
    if (ports.imap === ports.pop3) ports.pop3 = await findFreePort('127.0.0.1');
    const profile = options.profile ?? 'exchange';
    const rendered = renderDovecotConfig({
      baseDir,
      host: '127.0.0.1',
      starttlsHost: STARTTLS_HOST,
      ports,
      certFile: options.tls.certFile,
      keyFile: options.tls.keyFile,
      caFile: path.join(confDir, 'ca.pem'),
      mailboxes: options.mailboxes,
      introspectionUrl: options.introspectionUrl,
      basicAuthUsers: options.basicAuthUsers ?? [],
      profile,
      users,
      debug: options.debug ?? false,
      imapCapabilities: options.imapCapabilities,
      submission: options.submission && ports.submission
        ? { port: ports.submission, relayPort: options.submission.relayPort, introspectionUrl: options.submission.introspectionUrl }
        : undefined,
    });
    writeFileSync(path.join(confDir, 'dovecot.conf'), rendered.main, { mode: 0o644 });
    const authUid = lookupPasswd(users.internalUser)?.uid;
    for (const [name, content] of Object.entries(rendered.files)) {
      // The passwd file holds plain passwords: readable by Dovecot's auth process only.
      const file = path.join(confDir, name);
      writeFileSync(file, content, { mode: name === 'passwd' ? 0o600 : 0o644 });
      if (name === 'passwd' && owner && authUid !== undefined) chownSync(file, authUid, 0);
    }

    const mailboxes = [...options.mailboxes, ...(options.basicAuthUsers ?? []).map(({ user }) => user)];
    const folders = options.folders ?? (profile === 'exchange' ? [...EXCHANGE_DEFAULT_FOLDERS] : []);
    const server = new DovecotInstance(baseDir, ports, { ...options, mailboxes }, owner, readFileSync(options.tls.caFile, 'utf8'));
    for (const mailbox of mailboxes) {
      for (const folder of ['INBOX', ...folders]) await server.createFolder(mailbox, folder);
    }
    await server.spawnAndWait();
    return server;
  } catch (error) {
    if (!options.keepBaseDir && process.env.M365_TESTBED_KEEP !== '1') rmSync(baseDir, { recursive: true, force: true });
    throw error;
  }
}
