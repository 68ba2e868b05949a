/** Field validators shared by the editor forms; identifier shapes come from the runtime's own. */
import { GUID_PATTERN, MAILBOX_PATTERN, MULTI_TENANT_ALIASES } from '../config/identifiers';

const DOMAIN_PATTERN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const TENANT_KEYWORDS: readonly string[] = MULTI_TENANT_ALIASES;

export function isGuid(value: string): boolean {
  return GUID_PATTERN.test(value.trim());
}

export function isTenant(value: string): boolean {
  const v = value.trim();
  return isGuid(v) || DOMAIN_PATTERN.test(v) || TENANT_KEYWORDS.includes(v.toLowerCase());
}

export function isTenantKeyword(value: string): boolean {
  return TENANT_KEYWORDS.includes(value.trim().toLowerCase());
}

export function isMailboxOrEmpty(value: string): boolean {
  const v = value.trim();
  return v === '' || MAILBOX_PATTERN.test(v);
}

export function isPort(value: string | number): boolean {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

export function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}

export function isWholeNumber(value: string | number, min: number, max: number): boolean {
  const n = Number(value);
  return Number.isInteger(n) && n >= min && n <= max;
}

/** Empty, or JSON text of one object (the custom search criteria). */
export function isJsonObjectOrEmpty(value: string): boolean {
  if (!value || value.trim() === '') return true;
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed);
  } catch {
    return false;
  }
}
