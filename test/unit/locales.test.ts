import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every translation must mirror the en-US reference: Node-RED falls back to the raw key when a
 * key is missing, and i18next leaves a mistyped `__placeholder__` unreplaced in the UI.
 */

const LOCALES_DIR = join(__dirname, '..', '..', 'src', 'locales');
const REFERENCE = 'en-US';
const TRANSLATIONS = ['de'];

type Catalogue = { [key: string]: string | Catalogue };

function filesWithExtension(lang: string, ext: string): string[] {
  return readdirSync(join(LOCALES_DIR, lang))
    .filter((name) => name.endsWith(ext))
    .sort();
}

function readCatalogue(lang: string, file: string): Catalogue {
  return JSON.parse(readFileSync(join(LOCALES_DIR, lang, file), 'utf8')) as Catalogue;
}

function readText(lang: string, file: string): string {
  return readFileSync(join(LOCALES_DIR, lang, file), 'utf8');
}

/** Flattens a catalogue into dotted key paths, leaves only; non-string leaves are kept as-is. */
function flatten(catalogue: Catalogue, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [key, value] of Object.entries(catalogue)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of flatten(value, path)) out.set(k, v);
    } else {
      out.set(path, value);
    }
  }
  return out;
}

function placeholders(text: string): string[] {
  return [...new Set(text.match(/__[A-Za-z0-9_.-]+?__/g) ?? [])].sort();
}

function helpNames(html: string): string[] {
  return [...html.matchAll(/data-help-name="([^"]*)"/g)].map((m) => m[1]).sort();
}

/** Contents of <code> and <pre> elements: identifiers and commands must not be translated. */
function literalBlocks(html: string): string[] {
  return [...html.matchAll(/<(code|pre)>([\s\S]*?)<\/\1>/g)].map((m) => m[2].replace(/\s+/g, ' ')).sort();
}

/** Sequence of opening tag names, so the help keeps the same structure. */
function tagSequence(html: string): string[] {
  return [...html.matchAll(/<([a-z][a-z0-9]*)\b/g)].map((m) => m[1]);
}

const referenceCatalogues = filesWithExtension(REFERENCE, '.json');
const referenceHelp = filesWithExtension(REFERENCE, '.html');

describe('locales', () => {
  it('has en-US catalogues and help files to compare against', () => {
    assert.ok(referenceCatalogues.length > 0);
    assert.ok(referenceHelp.length > 0);
  });

  for (const lang of TRANSLATIONS) {
    describe(lang, () => {
      it('has exactly the same catalogue and help files as en-US', () => {
        assert.deepEqual(filesWithExtension(lang, '.json'), referenceCatalogues);
        assert.deepEqual(filesWithExtension(lang, '.html'), referenceHelp);
      });

      for (const file of referenceCatalogues) {
        describe(file, () => {
          const en = flatten(readCatalogue(REFERENCE, file));
          const translated = (): Map<string, unknown> => flatten(readCatalogue(lang, file));

          it('has exactly the same key set as en-US', () => {
            assert.deepEqual([...translated().keys()].sort(), [...en.keys()].sort());
          });

          it('has a non-empty string for every key', () => {
            for (const [key, value] of translated()) {
              assert.equal(typeof value, 'string', `${key} is not a string`);
              assert.ok((value as string).trim().length > 0, `${key} is empty`);
            }
          });

          it('keeps every __placeholder__ of the en-US string and adds none', () => {
            const de = translated();
            for (const [key, enValue] of en) {
              const deValue = de.get(key);
              if (typeof enValue !== 'string' || typeof deValue !== 'string') continue;
              assert.deepEqual(placeholders(deValue), placeholders(enValue), `placeholders of ${key}`);
            }
          });
        });
      }

      for (const file of referenceHelp) {
        describe(file, () => {
          const en = readText(REFERENCE, file);
          const translated = (): string => readText(lang, file);

          it('declares the same data-help-name as en-US', () => {
            assert.ok(helpNames(en).length > 0, 'en-US help has no data-help-name');
            assert.deepEqual(helpNames(translated()), helpNames(en));
          });

          it('keeps code and commands untranslated', () => {
            assert.deepEqual(literalBlocks(translated()), literalBlocks(en));
          });

          it('keeps the HTML structure of en-US', () => {
            assert.deepEqual(tagSequence(translated()), tagSequence(en));
          });
        });
      }
    });
  }
});
