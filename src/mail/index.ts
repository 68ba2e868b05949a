export { buildMailMessage, DEFAULT_MAX_ATTACHMENT_BYTES } from './build-mail-message';
export { prepareAttachmentDir, createUniqueFile } from './attachment-dir';
export { toSafeFilename, withDuplicateSuffix, MAX_FILENAME_BYTES } from './safe-filename';
export type {
  AttachmentPolicy,
  BuildMailOptions,
  MailAttachment,
  MailInfo,
  MailMessage,
  MailMeta,
  OutputMode,
} from './types';
