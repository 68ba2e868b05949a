export { prepareMail, type PrepareOptions } from './prepare';
export { Outbox, type OutboxMail, type NewOutboxMail } from './outbox';
export { OutboxDrain, type DrainStatus, type DrainEvents, type MailSender } from './outbox-drain';
export { MailboxSender, SmtpSendError, type SmtpTokenSource, type MailboxSenderOptions } from './mailbox-sender';
export { SmtpSession, type SmtpSendInfo } from './smtp-session';
export { composeMailOptions, DEFAULT_SUBJECT, type ComposeDefaults } from './compose';
export { toSmtpFailure } from './errors';
