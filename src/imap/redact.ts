/**
 * Removes anything that looks like a credential from text that may reach a log, a status or an
 * error message: bearer tokens, JWTs, SASL XOAUTH2 payloads, and the exact secrets a caller names.
 */
const PATTERNS: RegExp[] = [
  /auth=Bearer\s+[^\s\x01]+/gi,
  /Bearer\s+[A-Za-z0-9\-._~+/]+=*/g,
  /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
  /(AUTHENTICATE\s+(?:XOAUTH2|OAUTHBEARER|PLAIN)\s+)\S+/gi,
  /dXNlcj[A-Za-z0-9+/=]{20,}/g, // base64 of "user=" – an XOAUTH2 initial response
];

/** Replaces credentials in `text` with `[redacted]`. */
export function redactSecrets(text: string, secrets: Iterable<string> = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 8) out = out.split(secret).join('[redacted]');
  }
  for (const pattern of PATTERNS) {
    out = out.replace(pattern, (match, prefix?: unknown) => (typeof prefix === 'string' && prefix ? `${prefix}[redacted]` : '[redacted]'));
  }
  return out;
}
