/**
 * The input msg as the outbox keeps it on disk, so that after a restart a refused mail still
 * reaches Catch nodes with the msg that sent it and an accepted one is passed on with it.
 * Buffers survive (base64); what cannot outlive the process is left out: an HTTP request's
 * `req`/`res` (http in → mail out), functions, and repeated references (cycles).
 */
const BUFFER_TAG = '__m365Buffer';
const NOT_KEPT = new Set(['req', 'res']);

/** JSON text of a msg; Buffers tagged, `req`/`res`, functions and cycles left out. */
export function encodeMsg(msg: Record<string, unknown>): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(msg, function replacer(this: Record<string, unknown>, key: string, value: unknown) {
    const original = this[key];
    if (Buffer.isBuffer(original)) return { [BUFFER_TAG]: original.toString('base64') };
    if (this === (msg as unknown) && NOT_KEPT.has(key)) return undefined;
    if (typeof value === 'function' || typeof value === 'symbol') return undefined;
    if (value && typeof value === 'object') {
      if (seen.has(value)) return undefined;
      seen.add(value);
    }
    return value;
  });
}

/** The msg back from `encodeMsg`'s text, Buffers restored. */
export function decodeMsg(text: string): Record<string, unknown> {
  // A reviver costs a call per value (a third of reading a small mail back): only when needed.
  if (!text.includes(BUFFER_TAG)) return JSON.parse(text) as Record<string, unknown>;
  return JSON.parse(text, (_key, value: unknown) => {
    if (value && typeof value === 'object' && typeof (value as Record<string, unknown>)[BUFFER_TAG] === 'string') {
      return Buffer.from((value as Record<string, string>)[BUFFER_TAG], 'base64');
    }
    return value;
  }) as Record<string, unknown>;
}
