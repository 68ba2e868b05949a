/**
 * Shapes of the identifiers users type, shared by the runtime's checks and the editor's field
 * validation (this module must stay free of Node built-ins: the editor bundle imports it).
 */
export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Plain address check: enough to catch a pasted display name or a missing domain. */
export const MAILBOX_PATTERN = /^[^\s@<>()]+@[^\s@<>()]+\.[^\s@<>()]+$/;

/** Tenant keywords of the Microsoft identity platform that are not a single tenant. */
export const MULTI_TENANT_ALIASES = ['common', 'organizations', 'consumers'] as const;
