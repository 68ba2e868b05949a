/** The mail protocols the package speaks; each maps to its own token scopes and refusal texts. */
export type MailProtocol = 'imap' | 'pop3';
