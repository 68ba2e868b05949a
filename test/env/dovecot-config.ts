/**
 * Renders the configuration of a throw-away Dovecot 2.3 instance that stands in for Exchange
 * Online: implicit-TLS IMAP and POP3 on 127.0.0.1, optional STARTTLS listeners on 127.0.0.2, one
 * Maildir per mailbox, and OAuth2 passdbs that really validate each token by introspection.
 * Pure function: no I/O, so the generated text can be read and tested on its own.
 */

/** Who runs what. As root Dovecot needs unprivileged users; as a normal user everything is that user. */
export interface DovecotProcessUsers {
  internalUser: string;
  internalGroup: string;
  loginUser: string;
  /** Owner of the Maildirs; mail processes run with this uid/gid. */
  mailUid: number;
  mailGid: number;
}

export interface DovecotPorts {
  imap: number;
  pop3: number;
  imapStarttls?: number;
  pop3Starttls?: number;
  submission?: number;
}

export type DovecotProfile = 'exchange' | 'standard';

/**
 * Dovecot's SMTP submission service (package dovecot-submissiond), plain with STARTTLS on the
 * STARTTLS host. Its logins go through passdbs of their own, which ask the identity server's SMTP
 * introspection (SMTP.Send / SMTP.SendAsApp) instead of the IMAP/POP one; accepted mail is relayed
 * to a plain SMTP server on `host` (the bed's sink, which drops it into the Maildirs).
 */
export interface DovecotSubmissionInput {
  port: number;
  relayPort: number;
  introspectionUrl: (mailbox: string) => string;
}

export interface BasicAuthUser {
  user: string;
  password: string;
}

export interface DovecotConfigInput {
  baseDir: string;
  host: string;
  starttlsHost: string;
  ports: DovecotPorts;
  certFile: string;
  keyFile: string;
  /** CA that signed the identity server's certificate (Dovecot's HTTP client must trust it). */
  caFile: string;
  mailboxes: string[];
  introspectionUrl: (mailbox: string) => string;
  basicAuthUsers: BasicAuthUser[];
  profile: DovecotProfile;
  users: DovecotProcessUsers;
  /** Also log every auth step (auth_debug) and mail process details (mail_debug). */
  debug: boolean;
  /**
   * Replaces the advertised IMAP capabilities (without AUTH=, which the login process adds), e.g.
   * a list without IDLE. Default: EXCHANGE_IMAP_CAPABILITIES for the exchange profile, Dovecot's
   * own for standard.
   */
  imapCapabilities?: readonly string[];
  submission?: DovecotSubmissionInput;
}

/**
 * What Exchange Online advertises. Dovecot's login process appends the AUTH= mechanisms itself
 * (and would list them twice if they were also in imap_capability), so they are left out here;
 * after login Dovecot sends imap_capability alone, i.e. this list without AUTH=.
 */
export const EXCHANGE_IMAP_CAPABILITIES = [
  'IMAP4rev1', 'SASL-IR', 'UIDPLUS', 'ID', 'UNSELECT', 'CHILDREN', 'IDLE', 'NAMESPACE', 'LITERAL+', 'MOVE',
] as const;

/** Folders every Exchange Online mailbox has besides INBOX (the exchange profile creates them). */
export const EXCHANGE_DEFAULT_FOLDERS = ['Archive', 'Deleted Items', 'Drafts', 'Junk Email', 'Outbox', 'Sent Items'] as const;

export interface RenderedDovecotConfig {
  /** dovecot.conf */
  main: string;
  /** Further files, by name relative to the config directory. */
  files: Record<string, string>;
}

/** Maildir root of one mailbox under `baseDir`. */
export function mailboxMaildir(baseDir: string, mailbox: string): string {
  return `${baseDir}/mail/${mailbox.toLowerCase()}/Maildir`;
}

function assertSafeValue(label: string, value: string): void {
  // Everything below ends up in line-based config files; a newline, ':' or quote could inject settings.
  if (!/^[^\s:"'\\{}#]+$/.test(value)) throw new Error(`${label} contains characters not allowed in the test bed: ${JSON.stringify(value)}`);
}

function oauth2ArgsFileName(mailbox: string, service = ''): string {
  return `oauth2-${service ? `${service}-` : ''}${mailbox}.conf.ext`;
}

/**
 * Dovecot posts "token=<token>" and accepts the login only when the answer is
 * {"active": true, "username": <the XOAUTH2 user=>}. One passdb per mailbox so the identity
 * server learns which mailbox the token is meant to open.
 */
function oauth2Args(url: string, confDir: string): string {
  return [
    'introspection_mode = post',
    `introspection_url = ${url}`,
    'force_introspection = yes',
    `tls_ca_cert_file = ${confDir}/ca.pem`,
    'username_attribute = username',
    'active_attribute = active',
    'active_value = true',
    '',
  ].join('\n');
}

function oauth2Passdb(mailbox: string, mechanisms: string, argsPath: string): string {
  return [
    'passdb {',
    '  driver = oauth2',
    // Tokens are accepted only through SASL, never as a PLAIN password (Exchange does the same).
    `  mechanisms = ${mechanisms}`,
    `  username_filter = ${mailbox}`,
    `  args = ${argsPath}`,
    '}',
  ].join('\n');
}

function indent(block: string): string {
  return block.replace(/^/gm, '  ');
}

/**
 * The submission service: STARTTLS listener on the STARTTLS host (a client from 127.0.0.1 is not
 * "secured", so AUTH needs TLS first), SMTP-permission passdbs for it alone, and relaying to the
 * sink on `relayHost`.
 */
function submissionConfig(submission: DovecotSubmissionInput, listenHost: string, relayHost: string, passdbs: string[]): string {
  return [
    'protocol submission {',
    ...passdbs.map(indent),
    '  hostname = outlook.office365.com',
    '  submission_relay_host = ' + relayHost,
    `  submission_relay_port = ${submission.relayPort}`,
    '  submission_relay_ssl = no',
    '  submission_relay_trusted = no',
    '}',
    'service submission-login {',
    '  service_count = 0',
    '  process_min_avail = 1',
    '  client_limit = 2000',
    '  chroot =',
    '  inet_listener submission {',
    `    address = ${listenHost}`,
    `    port = ${submission.port}`,
    '  }',
    '}',
  ].join('\n');
}

/** Renders dovecot.conf plus the OAuth2 args files and the basic-auth passwd file. */
export function renderDovecotConfig(input: DovecotConfigInput): RenderedDovecotConfig {
  const confDir = `${input.baseDir}/conf`;
  const mailboxes = input.mailboxes.map((mailbox) => mailbox.toLowerCase());
  for (const mailbox of mailboxes) assertSafeValue('mailbox', mailbox);
  for (const { user, password } of input.basicAuthUsers) {
    assertSafeValue('basic auth user', user);
    if (/[\s:]/.test(password)) throw new Error('basic auth passwords must not contain spaces or ":"');
  }
  const exchange = input.profile === 'exchange';
  const capabilities = input.imapCapabilities ?? (exchange ? EXCHANGE_IMAP_CAPABILITIES : undefined);
  for (const capability of capabilities ?? []) {
    if (!/^[A-Za-z0-9=+.-]+$/.test(capability)) throw new Error(`not an IMAP capability: ${JSON.stringify(capability)}`);
  }
  const withBasicAuth = input.basicAuthUsers.length > 0;
  // imapflow picks OAUTHBEARER whenever offered; Exchange offers only XOAUTH2.
  const mechanisms = ['xoauth2', ...(exchange ? [] : ['oauthbearer']), ...(withBasicAuth ? ['plain'] : [])];

  const files: Record<string, string> = {};
  const passdbs: string[] = [];
  const oauth2Mechanisms = exchange ? 'xoauth2' : 'xoauth2 oauthbearer';
  for (const mailbox of mailboxes) {
    const argsFile = oauth2ArgsFileName(mailbox);
    files[argsFile] = oauth2Args(input.introspectionUrl(mailbox), confDir);
    passdbs.push(oauth2Passdb(mailbox, oauth2Mechanisms, `${confDir}/${argsFile}`));
  }
  const submissionPassdbs: string[] = [];
  if (input.submission) {
    for (const mailbox of mailboxes) {
      const argsFile = oauth2ArgsFileName(mailbox, 'submission');
      files[argsFile] = oauth2Args(input.submission.introspectionUrl(mailbox), confDir);
      submissionPassdbs.push(oauth2Passdb(mailbox, 'xoauth2', `${confDir}/${argsFile}`));
    }
  }
  if (withBasicAuth) {
    files['passwd'] = input.basicAuthUsers.map(({ user, password }) => `${user.toLowerCase()}:{PLAIN}${password}::::::\n`).join('');
    passdbs.push([
      'passdb {',
      '  driver = passwd-file',
      '  mechanisms = plain',
      `  args = scheme=PLAIN username_format=%Lu ${confDir}/passwd`,
      '}',
    ].join('\n'));
  }

  const listener = (name: string, address: string, port: number | undefined, ssl: boolean): string => [
    `  inet_listener ${name} {`,
    `    address = ${address}`,
    `    port = ${port ?? 0}`,
    ...(ssl ? ['    ssl = yes'] : []),
    '  }',
  ].join('\n');
  const loginService = (service: 'imap-login' | 'pop3-login', plainName: string, tlsName: string, tlsPort: number, plainPort?: number): string => [
    `service ${service} {`,
    // One long-lived login process serves all connections (benchmarks open 100+ at once) and
    // no chroot, so the same config also works when the tests run as a normal user.
    '  service_count = 0',
    '  process_min_avail = 1',
    '  client_limit = 2000',
    '  chroot =',
    // Port 0 disables the default plain listener when no STARTTLS port was asked for.
    listener(plainName, input.starttlsHost, plainPort, false),
    listener(tlsName, input.host, tlsPort, true),
    '}',
  ].join('\n');

  const main = [
    '# Generated by test/env/dovecot-config.ts for one test bed run. Do not edit.',
    `base_dir = ${input.baseDir}/run`,
    `state_dir = ${input.baseDir}/state`,
    `instance_name = m365-testbed-${input.ports.imap}`,
    `log_path = ${input.baseDir}/dovecot.log`,
    `info_log_path = ${input.baseDir}/dovecot.log`,
    `debug_log_path = ${input.baseDir}/dovecot.log`,
    `protocols = imap pop3${input.submission ? ' submission' : ''}`,
    `listen = ${input.host}`,
    `default_internal_user = ${input.users.internalUser}`,
    `default_internal_group = ${input.users.internalGroup}`,
    `default_login_user = ${input.users.loginUser}`,
    `first_valid_uid = ${Math.min(input.users.mailUid, 500)}`,
    `first_valid_gid = ${Math.min(input.users.mailGid, 1)}`,
    'default_process_limit = 1000',
    'default_client_limit = 4000',
    '',
    'ssl = required',
    `ssl_cert = <${input.certFile}`,
    `ssl_key = <${input.keyFile}`,
    'disable_plaintext_auth = yes',
    // Without this Dovecot trusts nobody extra; only 127.0.0.1 -> 127.0.0.1 counts as secure
    // (same IP on both ends), which is why the STARTTLS listeners live on 127.0.0.2.
    'login_trusted_networks =',
    ...(exchange ? [
      'protocol imap {',
      '  login_greeting = The Microsoft Exchange IMAP4 service is ready.',
      '}',
      'protocol pop3 {',
      '  login_greeting = The Microsoft Exchange POP3 service is ready.',
      '}',
    ] : []),
    '',
    `auth_mechanisms = ${mechanisms.join(' ')}`,
    'auth_verbose = yes',
    ...(input.debug ? ['auth_debug = yes', 'mail_debug = yes'] : []),
    // Refusals come back at once, so tests of refused tokens stay fast.
    'auth_failure_delay = 0',
    'auth_cache_size = 0',
    // Passdbs of a protocol block are appended to the global ones, so with submission on, the
    // reading passdbs must not be global or a token with IMAP rights alone could send.
    ...(input.submission ? ['protocol !submission {', ...passdbs.map(indent), '}'] : passdbs),
    'userdb {',
    '  driver = static',
    `  args = uid=${input.users.mailUid} gid=${input.users.mailGid} home=${input.baseDir}/mail/%Lu allow_all_users=yes`,
    '}',
    '',
    `mail_location = maildir:${input.baseDir}/mail/%Lu/Maildir`,
    // Mail is dropped into the Maildirs from outside; scan directories instead of trusting a list index.
    'mailbox_list_index = no',
    'mail_fsync = never',
    'namespace inbox {',
    '  inbox = yes',
    '  prefix =',
    // Exchange Online's hierarchy separator.
    '  separator = /',
    '}',
    'mail_max_userip_connections = 1000',
    ...(capabilities ? [`imap_capability = ${capabilities.join(' ')}`] : []),
    'imap_idle_notify_interval = 2 mins',
    'pop3_uidl_format = %08Xu%08Xv',
    '',
    loginService('imap-login', 'imap', 'imaps', input.ports.imap, input.ports.imapStarttls),
    loginService('pop3-login', 'pop3', 'pop3s', input.ports.pop3, input.ports.pop3Starttls),
    ...(input.submission ? [submissionConfig(input.submission, input.starttlsHost, input.host, submissionPassdbs)] : []),
    'service anvil {',
    '  chroot =',
    // Anvil's auth penalty delays every login from an IP after a failure (2 s, 4 s, ... up to
    // 15 s); tests refuse tokens on purpose, so switch it off.
    '  unix_listener anvil-auth-penalty {',
    '    mode = 0',
    '  }',
    '}',
    '',
  ].join('\n');
  return { main, files };
}
