import { convert } from 'html-to-text';
import { convertInWorker } from './html-text-worker';
import { nestsDeeperThan, simpleHtmlToText } from './html-text-simple';
import type { DeferredHtml } from './parser-limits';

/**
 * Up to this many characters, HTML is converted right here: html-to-text needs a few ms to a few
 * tens of ms for it, whatever the markup (measured on a busy 2-core machine).
 */
export const INLINE_HTML_CHARS = 64 * 1024;
/** Depth limit of html-to-text's walk for HTML we convert (hostile nesting cannot exhaust the stack). */
const MAX_HTML_DEPTH = 250;
/** The limit mailparser gives html-to-text: used for the HTML parts it left to us, so their text is what it gives. */
export const MAILPARSER_HTML_DEPTH = 1000;
/**
 * Deeper than this, html-to-text's parser alone is quadratic (240,000 nested `<div>`s took
 * 17 s); real markup stays far below (Chrome flattens anything past 512 levels).
 */
const MAX_WORKER_HTML_DEPTH = MAILPARSER_HTML_DEPTH;
/** Larger HTML is not worth a worker's time: it gets the simple conversion. */
const MAX_WORKER_HTML_CHARS = 16 * 1024 * 1024;
/** A worker that takes longer is ended; the simple conversion takes over. */
const WORKER_TIMEOUT_MS = 20_000;

/**
 * Converts an HTML body to plain text without blocking the event loop for long: small HTML with
 * html-to-text right away (as mailparser does), larger HTML with html-to-text in a worker thread
 * (same text), and HTML nested too deep or too large for that with a simple linear conversion
 * that yields between slices.
 */
export async function htmlToPlainText(html: string, maxDepth = MAX_HTML_DEPTH): Promise<string> {
  const options = { limits: { maxDepth } };
  if (html.length <= INLINE_HTML_CHARS) {
    try {
      return convert(html, options);
    } catch {
      return simpleHtmlToText(html);
    }
  }
  if (html.length > MAX_WORKER_HTML_CHARS || (await nestsDeeperThan(html, MAX_WORKER_HTML_DEPTH))) return simpleHtmlToText(html);
  try {
    return await convertInWorker(html, options, WORKER_TIMEOUT_MS);
  } catch {
    return simpleHtmlToText(html);
  }
}

/**
 * The plain-text body for `msg.payload`. mailparser converts a single-part HTML mail to text
 * itself (as node-red-node-email shows it) but leaves `text` empty when the HTML sits in a
 * multipart without a text alternative (e.g. HTML plus an attachment); we convert that case too,
 * so flows always get readable text when there is any body at all. HTML parts too large for
 * mailparser to convert in place (`deferred`) left a marker in `text`: their text goes there.
 */
export async function plainTextBody(text: string | undefined, html: string | undefined, deferred?: DeferredHtml): Promise<string> {
  if (text !== undefined && text !== '') return deferred ? fillDeferred(text, deferred) : text;
  if (!html) return text ?? '';
  return htmlToPlainText(html);
}

async function fillDeferred(text: string, deferred: DeferredHtml): Promise<string> {
  const converted = new Map<string, string>();
  for (const marker of new Set(text.match(deferred.pattern) ?? [])) {
    // Many small parts add up: the event loop gets a turn between two of them.
    await new Promise((resolve) => setImmediate(resolve));
    converted.set(marker, await htmlToPlainText(deferred.parts.get(marker) ?? '', MAILPARSER_HTML_DEPTH));
  }
  return text.replace(deferred.pattern, (marker) => converted.get(marker) ?? '');
}
