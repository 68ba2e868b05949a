import { convert } from 'html-to-text';

/** Bigger HTML bodies are not converted: the conversion would cost seconds of CPU. */
const MAX_HTML_CHARS_TO_CONVERT = 5 * 1024 * 1024;
/** Same depth limit mailparser uses, so hostile nesting cannot exhaust the stack. */
const MAX_HTML_DEPTH = 250;

/**
 * The plain-text body for `msg.payload`. mailparser converts a single-part HTML mail to text
 * itself (as node-red-node-email shows it) but leaves `text` empty when the HTML sits in a
 * multipart without a text alternative (e.g. HTML plus an attachment); we convert that case too,
 * so flows always get readable text when there is any body at all.
 */
export function plainTextBody(text: string | undefined, html: string | undefined): string {
  if (text !== undefined && text !== '') return text;
  if (!html || html.length > MAX_HTML_CHARS_TO_CONVERT) return text ?? '';
  try {
    return convert(html, { limits: { maxDepth: MAX_HTML_DEPTH } });
  } catch {
    return text ?? '';
  }
}
