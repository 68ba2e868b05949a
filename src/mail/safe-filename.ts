/**
 * Turns an attachment name chosen by a (possibly hostile) sender into a single path segment that
 * is safe to create inside the attachment folder on Linux, macOS and Windows.
 */

/** Longest file name we create, in UTF-8 bytes (most file systems allow 255; room for suffixes). */
export const MAX_FILENAME_BYTES = 200;

/** Used when nothing usable is left of the sender's name. */
export const FALLBACK_FILENAME = 'attachment';

// C0 and C1 controls (NUL included) and DEL.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;
// Bidi embeddings/overrides/isolates and marks: they make "invoice\u202Efdp.exe" display as
// "invoiceexe.pdf". Zero-width joiners stay: emoji sequences need them.
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// Characters Windows does not allow in names (`:` would also open an alternate data stream).
const WINDOWS_INVALID = /[<>:"|?*]/g;
// CON, PRN, AUX, NUL, COM0-9, LPT0-9 (Windows also treats the superscript digits as digits),
// whatever follows the first dot.
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]|conin\$|conout\$)$/i;
// An extension longer than this is not treated as one when shortening a name.
const MAX_EXTENSION_BYTES = 32;

const encoder = new TextEncoder();
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/** Splits `name.ext` into stem and extension (with its dot); no extension for `.hidden` or `name.`. */
export function splitExtension(name: string): { stem: string; extension: string } {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return { stem: name, extension: '' };
  const extension = name.slice(dot);
  if (utf8Length(extension) > MAX_EXTENSION_BYTES) return { stem: name, extension: '' };
  return { stem: name.slice(0, dot), extension };
}

/** Cuts text to at most `maxBytes` UTF-8 bytes without splitting a character or emoji sequence. */
function truncateUtf8(text: string, maxBytes: number): string {
  if (utf8Length(text) <= maxBytes) return text;
  let result = '';
  let bytes = 0;
  for (const { segment } of graphemes.segment(text)) {
    const size = utf8Length(segment);
    if (bytes + size > maxBytes) break;
    result += segment;
    bytes += size;
  }
  return result;
}

// Windows drops trailing dots and spaces (so "a.exe." is "a.exe"); leading dots hide files on Unix.
function trimDotsAndSpaces(text: string): string {
  return text.replace(/^[\s.]+/u, '').replace(/[\s.]+$/u, '');
}

/** Shortens a name to `maxBytes` keeping its extension, and trims what shortening exposed. */
export function capFilenameBytes(name: string, maxBytes: number = MAX_FILENAME_BYTES): string {
  if (utf8Length(name) <= maxBytes) return name;
  const { stem, extension } = splitExtension(name);
  const room = maxBytes - utf8Length(extension);
  const shortened = trimDotsAndSpaces(truncateUtf8(stem, room)) + extension;
  return trimDotsAndSpaces(truncateUtf8(shortened, maxBytes));
}

/**
 * Makes a sender-supplied attachment name safe to create as a file directly inside a folder:
 * only the last path segment is kept (no `../`, `..\`, absolute paths or drive letters), control
 * and bidi-control characters are removed, Windows-invalid characters become `_`, reserved
 * Windows device names get a `_` prefix, leading/trailing dots and spaces go, and the result is
 * at most {@link MAX_FILENAME_BYTES} UTF-8 bytes with its extension kept. Never returns an empty
 * string, `.` or `..`. Other Unicode (right-to-left scripts, emoji) is kept as is.
 */
export function toSafeFilename(name: string | undefined | null): string {
  if (typeof name !== 'string') return FALLBACK_FILENAME;
  let result = name.normalize('NFC').replace(CONTROL_CHARS, '').replace(BIDI_CONTROLS, '');
  // Both separators count: a name written on Windows may arrive at a Linux host and back.
  const segments = result.split(/[\\/]/);
  result = segments[segments.length - 1] ?? '';
  result = result.replace(/^[a-z]:/i, '');
  result = result.replace(WINDOWS_INVALID, '_');
  result = trimDotsAndSpaces(result);
  result = capFilenameBytes(result);
  if (result === '') return FALLBACK_FILENAME;
  const deviceName = result.split('.')[0]?.trimEnd() ?? '';
  if (WINDOWS_RESERVED.test(deviceName)) result = capFilenameBytes(`_${result}`);
  return result;
}

/**
 * The name to try for the n-th duplicate: `report.pdf` → `report (1).pdf` (or `report (3fa9c0d1e2b4).pdf`
 * for a string suffix), still within the byte cap. `n = 0` returns the name unchanged.
 */
export function withDuplicateSuffix(safeName: string, n: number | string): string {
  if (n === 0 || n === '') return safeName;
  const suffix = ` (${n})`;
  const { stem, extension } = splitExtension(safeName);
  const room = MAX_FILENAME_BYTES - utf8Length(suffix) - utf8Length(extension);
  return truncateUtf8(stem, room) + suffix + extension;
}
