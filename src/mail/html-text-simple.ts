/**
 * A plain HTML-to-text conversion whose cost is linear in the input and which gives the event
 * loop a turn after every slice: for HTML that html-to-text cannot convert within bounds (nested
 * tens of thousands of levels, or too large to convert at all). Tags go, block elements become
 * line breaks, scripts, styles and comments are dropped, entities are decoded.
 */

/** Characters handled between two turns of the event loop. */
export const SLICE_CHARS = 64 * 1024;

/** Elements whose start or end begins a new line. */
const BLOCK_ELEMENTS = new Set([
  'address', 'article', 'aside', 'blockquote', 'br', 'dd', 'div', 'dl', 'dt', 'figure', 'footer', 'form', 'h1', 'h2', 'h3', 'h4',
  'h5', 'h6', 'header', 'hr', 'li', 'main', 'nav', 'ol', 'p', 'pre', 'section', 'table', 'tr', 'ul',
]);
/** Elements whose content is no text for a reader. */
const HIDDEN_CONTENT = new Set(['script', 'style', 'head', 'template', 'noscript']);
/** Elements that never hold content, so a start tag does not open a nesting level. */
const VOID_ELEMENTS = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr']);
/** Elements the HTML parser closes when a sibling opens: an unclosed run of them does not nest. */
const IMPLIED_END_ELEMENTS = new Set(['p', 'li', 'dt', 'dd', 'option', 'optgroup', 'tr', 'td', 'th', 'thead', 'tbody', 'tfoot', 'rt', 'rp']);

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', trade: '™', hellip: '…', mdash: '—',
  ndash: '–', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', laquo: '«', raquo: '»', bull: '•', middot: '·', euro: '€',
  pound: '£', yen: '¥', cent: '¢', sect: '§', deg: '°', times: '×', divide: '÷', auml: 'ä', ouml: 'ö', uuml: 'ü',
  Auml: 'Ä', Ouml: 'Ö', Uuml: 'Ü', szlig: 'ß', eacute: 'é', egrave: 'è', agrave: 'à', ccedil: 'ç', zwnj: '', zwj: '',
};

function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z]{2,8});?/g, (match, entity: string) => {
    if (entity.startsWith('#')) {
      const code = entity[1] === 'x' || entity[1] === 'X' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      return code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? String.fromCodePoint(code) : '\ufffd';
    }
    return NAMED_ENTITIES[entity] ?? match;
  });
}

function isTagNameChar(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x3a || code === 0x5f;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Collects text with collapsed white space and at most one empty line in a row. */
class TextBuilder {
  private readonly parts: string[] = [];
  private lineStart = true;
  private newlines = 2;
  private space = false;

  text(raw: string): void {
    const collapsed = decodeEntities(raw).replace(/\s+/g, ' ');
    if (collapsed === ' ' || collapsed === '') {
      if (collapsed === ' ' && !this.lineStart) this.space = true;
      return;
    }
    const leading = collapsed.startsWith(' ');
    const trailing = collapsed.endsWith(' ');
    if ((leading || this.space) && !this.lineStart) this.parts.push(' ');
    this.parts.push(collapsed.trim());
    this.lineStart = false;
    this.newlines = 0;
    this.space = trailing;
  }

  cell(): void {
    if (!this.lineStart) this.space = true;
  }

  newline(): void {
    this.space = false;
    if (this.newlines >= 2) return;
    this.parts.push('\n');
    this.lineStart = true;
    this.newlines++;
  }

  result(): string {
    return this.parts.join('').trim();
  }
}

/** Where to cut a long text run so an entity is not split. */
function cutBefore(html: string, from: number, to: number): number {
  const amp = html.lastIndexOf('&', to);
  return amp > from && to - amp < 12 ? amp : to;
}

/** Converts HTML to plain text in slices, yielding to the event loop between them. */
export async function simpleHtmlToText(html: string): Promise<string> {
  const out = new TextBuilder();
  let i = 0;
  let budget = SLICE_CHARS;
  const spend = async (chars: number): Promise<void> => {
    budget -= chars;
    if (budget <= 0) {
      budget = SLICE_CHARS;
      await nextTurn();
    }
  };
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    const textEnd = lt < 0 ? html.length : lt;
    if (textEnd > i) {
      const end = textEnd - i > SLICE_CHARS ? cutBefore(html, i, i + SLICE_CHARS) : textEnd;
      out.text(html.slice(i, end));
      await spend(end - i);
      i = end;
      continue;
    }
    // html[i] is "<"
    if (html.startsWith('<!--', i)) {
      const close = html.indexOf('-->', i + 4);
      const next = close < 0 ? html.length : close + 3;
      await spend(next - i);
      i = next;
      continue;
    }
    let pos = i + 1;
    const closing = html.charCodeAt(pos) === 0x2f;
    if (closing) pos++;
    const nameStart = pos;
    while (pos < html.length && isTagNameChar(html.charCodeAt(pos))) pos++;
    if (pos === nameStart && !(html[pos] === '!' || html[pos] === '?')) {
      out.text('<');
      await spend(1);
      i += 1;
      continue;
    }
    const gt = html.indexOf('>', pos);
    let next = gt < 0 ? html.length : gt + 1;
    const name = html.slice(nameStart, pos).toLowerCase();
    if (BLOCK_ELEMENTS.has(name)) out.newline();
    else if (name === 'td' || name === 'th') out.cell();
    if (!closing && HIDDEN_CONTENT.has(name)) {
      const end = new RegExp(`</${name}\\s*>`, 'ig');
      end.lastIndex = next;
      const found = end.exec(html);
      next = found ? found.index + found[0].length : html.length;
    }
    await spend(next - i);
    i = next;
  }
  return out.result();
}

/**
 * Whether elements nest deeper than `maxDepth` (start tags open a level, an end tag closes down to
 * the nearest open element of its name), in one linear pass that yields to the event loop.
 */
export async function nestsDeeperThan(html: string, maxDepth: number): Promise<boolean> {
  const stack: string[] = [];
  const open = new Map<string, number>();
  let scanned = 0;
  let i = html.indexOf('<');
  while (i >= 0) {
    if (i - scanned > SLICE_CHARS) {
      scanned = i;
      await nextTurn();
    }
    let pos = i + 1;
    if (html.startsWith('!--', pos)) {
      const end = html.indexOf('-->', pos + 3);
      i = end < 0 ? -1 : html.indexOf('<', end + 3);
      continue;
    }
    const closing = html.charCodeAt(pos) === 0x2f;
    if (closing) pos++;
    const nameStart = pos;
    while (pos < html.length && isTagNameChar(html.charCodeAt(pos))) pos++;
    if (pos === nameStart) {
      i = html.indexOf('<', pos);
      continue;
    }
    const end = html.indexOf('>', pos);
    if (end < 0) break;
    const name = html.slice(nameStart, pos).toLowerCase();
    if (!VOID_ELEMENTS.has(name) && !IMPLIED_END_ELEMENTS.has(name)) {
      if (!closing) {
        stack.push(name);
        open.set(name, (open.get(name) ?? 0) + 1);
        if (stack.length > maxDepth) return true;
      } else if (open.get(name)) {
        let popped: string | undefined;
        do {
          popped = stack.pop();
          if (popped !== undefined) open.set(popped, (open.get(popped) ?? 1) - 1);
        } while (popped !== undefined && popped !== name);
      }
    }
    i = html.indexOf('<', end + 1);
  }
  return false;
}
