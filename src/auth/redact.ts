/**
 * The one redaction for every protocol (IMAP, POP3, SMTP) and every place text may reach: a log
 * line, a status, an error message. It removes bearer tokens (any letter case), JWTs, SASL
 * XOAUTH2 and OAUTHBEARER payloads — in clear or base64-encoded, with or without the command in
 * front — and the exact secrets a caller names.
 */

const REDACTED = '[redacted]';

const CLEAR_PATTERNS: RegExp[] = [
  /auth=Bearer\s+[^\s\x01]+/gi,
  /\bBearer\s+[A-Za-z0-9\-._~+/]+=*/gi,
  /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
  /(\b(?:AUTHENTICATE|AUTH)\s+(?:XOAUTH2|OAUTHBEARER|PLAIN)\s+)\S+/gi,
];

/**
 * A run of base64 long enough to hold a SASL payload. Such payloads are found by what they
 * decode to, not by how they start: an XOAUTH2 response begins with "user=" but an OAUTHBEARER
 * one with a GS2 header ("n,a=…", "n,,", "y,,"), and a log line may cut either anywhere.
 */
const BASE64_RUN = /[A-Za-z0-9+/]{24,}={0,2}/g;

/** Whether decoded text is (part of) a SASL bearer payload. */
function isBearerPayload(decoded: string): boolean {
  return /auth=bearer\s/i.test(decoded) || /^(?:user=[^\x01]*\x01|[nyp][^,]*,(?:a=[^,]*)?,[\s\S]*\x01)/i.test(decoded);
}

/** Decodes `run` at each of the four base64 alignments a cut line may have left. */
function decodesToBearerPayload(run: string): boolean {
  const clean = run.replace(/=+$/, '');
  for (let skip = 0; skip < 4; skip++) {
    const part = clean.slice(skip);
    const usable = part.slice(0, part.length - (part.length % 4));
    if (usable.length >= 16 && isBearerPayload(Buffer.from(usable, 'base64').toString('latin1'))) return true;
  }
  return false;
}

/** Replaces credentials in `text` with `[redacted]`. */
export function redactSecrets(text: string, secrets: Iterable<string> = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 8) out = out.split(secret).join(REDACTED);
  }
  for (const pattern of CLEAR_PATTERNS) {
    out = out.replace(pattern, (match, prefix?: unknown) => (typeof prefix === 'string' && prefix ? `${prefix}${REDACTED}` : REDACTED));
  }
  return out.replace(BASE64_RUN, (run) => (decodesToBearerPayload(run) ? REDACTED : run));
}
