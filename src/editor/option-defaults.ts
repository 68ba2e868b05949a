import type { EditorNodeProperties, EditorNodePropertiesDef, EditorNodePropertyDef } from 'node-red';
import { NODE_OPTIONS, type OptionNodeType, type OptionSpec } from '../config/options';
import { isWholeNumber } from './validators';

interface EditorDefault {
  value: string | boolean;
  required?: boolean;
  validate?: (value: string) => boolean;
}

function editorDefault(spec: OptionSpec): EditorDefault {
  switch (spec.kind) {
    // Flow files keep numbers as the form's text: the runtime parser reads both.
    case 'integer': return { value: String(spec.default), validate: (v: string) => isWholeNumber(v, spec.min, spec.max) };
    default: return { value: spec.default };
  }
}

/** Checks a form adds over the table's defaults (mailbox shape, JSON, a required folder, …). */
export type ExtraChecks<P extends EditorNodeProperties> = { [K in keyof P]?: Partial<EditorNodePropertyDef<P[K], P>> };

/**
 * The editor `defaults` of a node type's options, from the node options table (src/config/options.ts):
 * values, defaults and number limits are written there once. `name` and `account` are the form's own.
 */
export function optionDefaults<P extends EditorNodeProperties>(type: OptionNodeType, extra: ExtraChecks<P> = {}): Omit<EditorNodePropertiesDef<P>, 'name' | 'account'> {
  const defaults: Record<string, EditorDefault> = {};
  const checks = extra as Record<string, Partial<EditorDefault> | undefined>;
  for (const [name, spec] of Object.entries(NODE_OPTIONS[type] as Record<string, OptionSpec>)) defaults[name] = { ...editorDefault(spec), ...checks[name] };
  return defaults as unknown as EditorNodePropertiesDef<P>;
}
