/**
 * What the bed's Exchange SMTP front end is told to do wrong, and what it accepted. Pure state:
 * the front end asks it at each stage of a session; tests drive it through `ExchangeSmtp`.
 */
import { headerAddresses, headerFields } from './smtp-lines';

/**
 * Where in a session a refusal strikes. `connect` replaces the greeting; `data` comes after the
 * message was read and before it is relayed; `accepted` after the mail was delivered, instead of
 * the 250 (with an empty reply and `close`: the client never learns that its mail went through).
 */
export type SmtpStage = 'connect' | 'auth' | 'mail' | 'rcpt' | 'data' | 'accepted';

export interface SmtpRefusal {
  at: SmtpStage;
  /** The whole reply line, e.g. `421 4.7.66 ...`. */
  reply: string;
  /** Strikes this many times, then is gone. Default: until `forMs` ends, or forever. */
  times?: number;
  /** Strikes until this many ms from now. */
  forMs?: number;
  /** Close the connection after the reply (default: for 421). */
  close?: boolean;
}

interface ActiveRefusal {
  at: SmtpStage;
  reply: string;
  remaining: number;
  untilMs: number;
  close: boolean;
}

/** One message the front end delivered (answered 250, unless a cut after acceptance was asked for). */
export interface AcceptedMail {
  /** Mailbox that logged in (the XOAUTH2 user). */
  mailbox: string;
  /** Envelope sender and recipients. */
  from: string;
  to: string[];
  /** The message as the client sent it (dot-stuffing removed, CRLF lines). */
  raw: Buffer;
  /** Message-ID header without the angle brackets; undefined when the mail had none. */
  messageId?: string;
  /** Which connection (1, 2, ...) carried it. */
  connection: number;
}

export interface SmtpCounters {
  connections: number;
  logins: number;
  failedLogins: number;
}

export class SmtpFaults {
  private refusals: ActiveRefusal[] = [];
  private readonly rejectedRecipients = new Map<string, string>();
  private readonly authDisabled = new Set<string>();
  private tenantAuthDisabled = false;
  private readonly sendAsDenied = new Set<string>();
  private readonly sendAsGrants = new Map<string, Set<string>>();
  readonly accepted: AcceptedMail[] = [];
  readonly counters: SmtpCounters = { connections: 0, logins: 0, failedLogins: 0 };
  private waiters: Array<{ count: number; resolve: () => void }> = [];
  private rate?: { messages: number; windowMs: number; reply: string };
  private readonly mailTimes = new Map<string, number[]>();

  constructor(private readonly defaultGrants: Array<[string, string]> = []) {
    this.reset();
  }

  refuse(refusal: SmtpRefusal): void {
    this.refusals.push({
      at: refusal.at,
      reply: refusal.reply,
      remaining: refusal.times ?? Infinity,
      untilMs: refusal.forMs === undefined ? Infinity : Date.now() + refusal.forMs,
      close: refusal.close ?? refusal.reply.startsWith('421'),
    });
  }

  /** The refusal due at `stage` now, if any (and counts it). */
  takeRefusal(stage: SmtpStage): { reply: string; close: boolean } | undefined {
    const now = Date.now();
    this.refusals = this.refusals.filter((r) => r.remaining > 0 && r.untilMs > now);
    const hit = this.refusals.find((r) => r.at === stage);
    if (!hit) return undefined;
    hit.remaining--;
    return { reply: hit.reply, close: hit.close };
  }

  /** Exchange's per-mailbox submission limit: more than `messages` MAIL FROMs in `windowMs` get `reply`. */
  setRateLimit(limit: { messages: number; windowMs: number; reply: string } | undefined): void {
    this.rate = limit;
    this.mailTimes.clear();
  }

  /** Counts a MAIL FROM of `mailbox`; the reply when it is over the rate limit. */
  overRateLimit(mailbox: string): string | undefined {
    if (!this.rate) return undefined;
    const now = Date.now();
    const key = mailbox.toLowerCase();
    const recent = (this.mailTimes.get(key) ?? []).filter((t) => t > now - this.rate!.windowMs);
    this.mailTimes.set(key, recent);
    if (recent.length >= this.rate.messages) return this.rate.reply;
    recent.push(now);
    return undefined;
  }

  rejectRecipient(address: string, reply: string): void {
    this.rejectedRecipients.set(address.toLowerCase(), reply);
  }

  recipientRefusal(address: string): string | undefined {
    return this.rejectedRecipients.get(address.toLowerCase());
  }

  /** `Set-CASMailbox -SmtpClientAuthenticationDisabled $true` for a mailbox, or the tenant-wide setting. */
  setSmtpAuthDisabled(target: string, disabled: boolean): void {
    if (target === 'tenant') this.tenantAuthDisabled = disabled;
    else if (disabled) this.authDisabled.add(target.toLowerCase());
    else this.authDisabled.delete(target.toLowerCase());
  }

  /** 'Mailbox' / 'Tenant' when SMTP AUTH is off for this login, as Exchange words it. */
  smtpAuthDisabledFor(mailbox: string): 'Mailbox' | 'Tenant' | undefined {
    if (this.authDisabled.has(mailbox.toLowerCase())) return 'Mailbox';
    return this.tenantAuthDisabled ? 'Tenant' : undefined;
  }

  denySendAs(address: string): void {
    this.sendAsDenied.add(address.toLowerCase());
  }

  grantSendAs(mailbox: string, address: string): void {
    const set = this.sendAsGrants.get(mailbox.toLowerCase()) ?? new Set<string>();
    set.add(address.toLowerCase());
    this.sendAsGrants.set(mailbox.toLowerCase(), set);
  }

  /**
   * Exchange lets a mailbox send as itself and as what it has Send As rights on; anything else,
   * in the envelope or the From header, is SendAsDenied.
   */
  sendAsAllowed(mailbox: string, envelopeFrom: string, message: Buffer): boolean {
    const own = mailbox.toLowerCase();
    const granted = this.sendAsGrants.get(own) ?? new Set<string>();
    const fromHeader = (headerFields(message).get('from') ?? []).flatMap(headerAddresses);
    const senders = [...fromHeader, ...(envelopeFrom ? [envelopeFrom.toLowerCase()] : [])];
    return senders.every((address) => !this.sendAsDenied.has(address) && (address === own || granted.has(address)));
  }

  record(mail: Omit<AcceptedMail, 'messageId'>): AcceptedMail {
    const header = headerFields(mail.raw).get('message-id')?.[0];
    const entry: AcceptedMail = { ...mail, messageId: header?.replace(/^<|>$/g, '') };
    this.accepted.push(entry);
    const due = this.waiters.filter((w) => this.accepted.length >= w.count);
    this.waiters = this.waiters.filter((w) => this.accepted.length < w.count);
    for (const waiter of due) waiter.resolve();
    return entry;
  }

  /** Resolves once `count` messages in all were accepted; rejects after `timeoutMs`. */
  waitForAccepted(count: number, timeoutMs: number): Promise<AcceptedMail[]> {
    if (this.accepted.length >= count) return Promise.resolve(this.accepted.slice());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`SMTP bed: ${this.accepted.length} of ${count} messages accepted within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = { count, resolve: () => { clearTimeout(timer); resolve(this.accepted.slice()); } };
      this.waiters.push(waiter);
    });
  }

  /** Message-IDs accepted more than once. */
  duplicateMessageIds(): string[] {
    const seen = new Map<string, number>();
    for (const { messageId } of this.accepted) if (messageId) seen.set(messageId, (seen.get(messageId) ?? 0) + 1);
    return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  }

  /** Forgets every knob and every accepted message, counters included; the default Send As grants return. */
  reset(): void {
    this.refusals = [];
    this.setRateLimit(undefined);
    this.rejectedRecipients.clear();
    this.authDisabled.clear();
    this.tenantAuthDisabled = false;
    this.sendAsDenied.clear();
    this.sendAsGrants.clear();
    for (const [mailbox, address] of this.defaultGrants) this.grantSendAs(mailbox, address);
    this.accepted.length = 0;
    Object.assign(this.counters, { connections: 0, logins: 0, failedLogins: 0 });
  }
}
