/** The mail protocols the package speaks; each maps to its own token scopes and refusal texts. */
export type MailProtocol = 'imap' | 'pop3' | 'smtp';

/** Every protocol, in a fixed order (scope lists and cache keys are built in this order). */
export const MAIL_PROTOCOLS: readonly MailProtocol[] = ['imap', 'pop3', 'smtp'];
