import { M365MailError } from '../core/errors';
import type { ChoiceOption, FlagOption, IntegerOption, TextOption } from './options';

/** Raw node properties as they come from the flow file: strings, numbers or missing. */
export type RawProps = Record<string, unknown>;

export interface ParseResult<T> {
  config: T;
  errors: M365MailError[];
}

export function configError(message: string, fix: string): M365MailError {
  return new M365MailError(message, { kind: 'config', fix });
}

/** A text property, trimmed; missing → the option's default. */
export function text(props: RawProps, key: string, option: TextOption | string = ''): string {
  const fallback = typeof option === 'string' ? option : option.default;
  const value = props[key];
  if (value === undefined || value === null) return fallback;
  return String(value).trim() || fallback;
}

/** One of the option's values; an unknown one is reported and the default used. */
export function choice<T extends string>(props: RawProps, key: string, option: ChoiceOption<T>, errors: M365MailError[]): T {
  const value = text(props, key, option.default);
  if ((option.values as readonly string[]).includes(value)) return value as T;
  errors.push(configError(`Unknown ${key} "${value}"`, `Choose one of: ${option.values.join(', ')}.`));
  return option.default;
}

/** A whole number within the option's limits; empty → default, anything else is reported. */
export function integer(props: RawProps, key: string, option: IntegerOption, errors: M365MailError[]): number {
  const raw = text(props, key);
  if (raw === '') return option.default;
  const value = Number(raw);
  const { min, max } = option;
  if (!Number.isInteger(value) || value < min || value > max) {
    errors.push(configError(`${key} must be a whole number from ${min} to ${max} (got "${raw}")`, `Set ${key} to a value from ${min} to ${max}.`));
    return option.default;
  }
  return value;
}

/** A checkbox property: true or "true" (older flow files). */
export function flag(props: RawProps, key: string, option: FlagOption): boolean {
  const value = props[key];
  if (value === undefined || value === null || value === '') return option.default;
  return value === true || value === 'true';
}
