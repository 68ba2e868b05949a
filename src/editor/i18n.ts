import type { EditorRED } from 'node-red';

declare const RED: EditorRED;

const MODULE = '@m365-mail/node-red-m365-mail';

/** Translator for one node set's catalogue (each node file is its own i18n namespace). */
export function translator(nodeType: string): (key: string, values?: Record<string, string | number>) => string {
  return (key, values) => RED._(`${MODULE}/${nodeType}:${key}`, values as Record<string, string>);
}
