/** IMAP's logger and errors redact through the one redaction shared by every protocol. */
export { redactSecrets } from '../auth/redact';
