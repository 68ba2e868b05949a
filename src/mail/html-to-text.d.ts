// html-to-text ships without types; it is the converter mailparser itself uses for HTML-only mail.
declare module 'html-to-text' {
  export interface HtmlToTextOptions {
    wordwrap?: number | false | null;
    limits?: { maxDepth?: number; maxInputLength?: number };
  }
  export function convert(html: string, options?: HtmlToTextOptions): string;
}
