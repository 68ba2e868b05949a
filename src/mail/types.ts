import type { AddressObject, HeaderValue } from 'mailparser';
import type { ValueOf } from '../config/options';
import type { InlineImagesMode } from './inline-images';

/** Where a mail came from; copied (not referenced) into `msg.mail`. */
export interface MailMeta {
  protocol: 'imap' | 'pop3';
  mailbox: string;
  folder?: string;
  uid?: number;
  /** IMAP UIDVALIDITY; imapflow hands out a bigint, the message carries it as a string. */
  uidValidity?: string | number | bigint;
  uidl?: string;
  flags?: Iterable<string>;
  /** Size of the raw message in bytes; counted while parsing when not given. */
  size?: number;
}

/** `msg.mail` as emitted: the meta with every value in a JSON-friendly form. */
export interface MailInfo {
  protocol: 'imap' | 'pop3';
  mailbox: string;
  folder?: string;
  uid?: number;
  uidValidity?: string;
  uidl?: string;
  flags?: string[];
  size: number;
}

/** `include` keeps content in memory, `omit` lists attachments only, `save` writes them to files. */
export type AttachmentPolicy = ValueOf<'m365-imap-in', 'attachments'>;

export type OutputMode = ValueOf<'m365-imap-in', 'output'>;

export interface BuildMailOptions {
  output?: OutputMode;
  attachments?: AttachmentPolicy;
  /** Folder for `save`; created when missing. */
  attachmentDir?: string;
  /** Larger attachments are left out (`omitted: true`). 0 or Infinity means no limit. Default 25 MiB. */
  maxAttachmentBytes?: number;
  /**
   * `data-uri` (default): `cid:` links to images of the mail become `data:` URIs in `html`, as in
   * node-red-node-email (images within the size cap); `cid`: the links stay as the mail has them.
   */
  inlineImages?: InlineImagesMode;
  meta: MailMeta;
}

/** One entry of `msg.attachments` (shape shared with node-red-node-email). */
export interface MailAttachment {
  /**
   * The sender's name made safe as one file name (no folders, `..`, control characters or device
   * names), as `save` uses it; the file written may carry a ` (n)` suffix (see `path`).
   */
  filename?: string;
  /** The name exactly as the sender gave it; never build a path from it. */
  originalFilename?: string;
  contentType: string;
  /** Decoded size in bytes (for an omitted attachment: every byte seen). */
  size: number;
  /** Present only with `attachments: include` and within the size cap. */
  content?: Buffer;
  /** SHA-256 hex of the decoded content, as node-red-node-email computes it. */
  checksum?: string;
  /** Content-ID without angle brackets, to match `cid:` links in `html`. */
  cid?: string;
  /** File written with `attachments: save`. */
  path?: string;
  /** Set when the content was left out because it exceeded `maxAttachmentBytes`. */
  omitted?: true;
}

/** The output message built for one mail; fields as in CONTRACT.md. */
export interface MailMessage {
  /** Plain-text body (`parsed`) or the raw RFC 822 source (`raw`). */
  payload: string | Buffer;
  html?: string;
  topic: string;
  /** Address of the first sender. */
  from?: string;
  to?: AddressObject;
  cc?: AddressObject;
  bcc?: AddressObject;
  replyTo?: AddressObject;
  date?: Date;
  /** Parsed headers keyed by lower-cased name. */
  header: Record<string, HeaderValue>;
  messageId?: string;
  attachments: MailAttachment[];
  mail: MailInfo;
}
