import type { AddressObject, EmailAddress, HeaderValue, Headers } from 'mailparser';

/**
 * Copies mailparser's header map into a plain object keyed by lower-cased header name, as
 * node-red-node-email puts it in `msg.header`.
 */
export function headersToObject(headers: Headers | undefined): Record<string, HeaderValue> {
  const result: Record<string, HeaderValue> = {};
  headers?.forEach((value, key) => {
    result[key.toLowerCase()] = value;
  });
  return result;
}

function isAddressObject(value: unknown): value is AddressObject {
  return typeof value === 'object' && value !== null && Array.isArray((value as AddressObject).value);
}

/**
 * One address object for an address header. A header repeated in the mail (two `To:` lines)
 * arrives as an array; flows are simpler with a single object, so the lists are joined.
 */
export function toAddressObject(value: HeaderValue | undefined): AddressObject | undefined {
  const parts = (Array.isArray(value) ? value : [value]).filter(isAddressObject);
  if (parts.length === 0) return undefined;
  if (parts.length === 1) return parts[0];
  return {
    value: parts.flatMap((part) => part.value),
    html: parts.map((part) => part.html).join(', '),
    text: parts.map((part) => part.text).join(', '),
  };
}

/** The first address in a From header, looking into a group when the header starts with one. */
export function firstAddress(from: AddressObject | undefined): string | undefined {
  const find = (entries: EmailAddress[]): string | undefined => {
    for (const entry of entries) {
      if (entry.address) return entry.address;
      const inGroup = entry.group ? find(entry.group) : undefined;
      if (inGroup) return inGroup;
    }
    return undefined;
  };
  return from ? find(from.value) : undefined;
}
