/** POP3 client for Exchange Online and other XOAUTH2 servers; see client.ts for the lifecycle. */
export { MAX_COMMAND_LINE_BYTES, Pop3Client } from './client';
export type { MailboxStat, Pop3Capabilities, Pop3ClientEvents, Pop3ClientOptions, Pop3SocketFactory, Pop3TlsMode } from './client';
export { classifyPop3Error } from './errors';
export { Pop3Poller } from './poller';
export type {
  Pop3Disposition, Pop3MailMeta, Pop3MailSource, Pop3PollerCallbacks, Pop3PollerOptions, Pop3PollerState, Pop3PollerStatus, Pop3PollMode,
} from './poller';
export type { Pop3ClientFactory, Pop3SessionClient } from './poll-session';
export { toPop3PollError } from './poll-errors';
