/**
 * CAPA response (RFC 2449) parsed into the facts this client acts on. Capability names are
 * case-insensitive; they are upper-cased here, their arguments are kept as sent.
 */
export interface Pop3Capabilities {
  /** Every capability line as sent, in order. */
  readonly lines: readonly string[];
  /** Upper-cased capability name → its arguments. */
  readonly entries: ReadonlyMap<string, readonly string[]>;
  /** SASL mechanisms offered for AUTH, upper-cased (e.g. `XOAUTH2`, `PLAIN`). */
  readonly saslMechanisms: readonly string[];
  readonly top: boolean;
  readonly uidl: boolean;
  readonly user: boolean;
  readonly stls: boolean;
  readonly pipelining: boolean;
  readonly respCodes: boolean;
  readonly authRespCode: boolean;
  /** `EXPIRE` argument: days, `NEVER`, possibly followed by `USER`. */
  readonly expire?: string;
  /** `LOGIN-DELAY` in seconds, when the server announces one. */
  readonly loginDelaySeconds?: number;
  readonly implementation?: string;
}

/** Parses the lines of a CAPA answer (without the `+OK` status line and the `.` terminator). */
export function parseCapabilities(lines: readonly string[]): Pop3Capabilities {
  const entries = new Map<string, string[]>();
  for (const line of lines) {
    const words = line.trim().split(/\s+/).filter((word) => word.length > 0);
    if (words.length === 0) continue;
    entries.set(words[0].toUpperCase(), words.slice(1));
  }
  const has = (name: string): boolean => entries.has(name);
  const args = (name: string): string[] | undefined => entries.get(name);
  const loginDelay = Number.parseInt(args('LOGIN-DELAY')?.[0] ?? '', 10);
  const implementationLine = lines.find((line) => /^\s*IMPLEMENTATION\s/i.test(line));
  return {
    lines: [...lines],
    entries,
    saslMechanisms: (args('SASL') ?? []).map((mechanism) => mechanism.toUpperCase()),
    top: has('TOP'),
    uidl: has('UIDL'),
    user: has('USER'),
    stls: has('STLS'),
    pipelining: has('PIPELINING'),
    respCodes: has('RESP-CODES'),
    authRespCode: has('AUTH-RESP-CODE'),
    expire: args('EXPIRE')?.join(' '),
    loginDelaySeconds: Number.isFinite(loginDelay) ? loginDelay : undefined,
    implementation: implementationLine?.trim().replace(/^IMPLEMENTATION\s+/i, ''),
  };
}
