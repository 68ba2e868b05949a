/**
 * Attachments given by `path`: allowed only inside the folder the node names (`attachmentDir`),
 * so a msg cannot mail out any file Node-RED may read (settings.js, the credentials file, keys).
 * The file is read when the mail enters the outbox: the outbox holds the content, and a file
 * changed or removed afterwards does not change or break the mail. URLs (`href`, a URL `path`)
 * are refused: the node does not fetch for a msg.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type Mail from 'nodemailer/lib/mailer';
import { M365MailError } from '../core/errors';

function refused(message: string, fix: string): M365MailError {
  return new M365MailError(message, { kind: 'config', fix, retryable: false });
}

function isInside(folder: string, candidate: string): boolean {
  const relative = path.relative(folder, candidate);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/**
 * Returns the attachments with every `path` replaced by the file's content. Relative paths are
 * taken relative to `allowedDir`; symbolic links are followed before the check, so a link inside
 * the folder to a file outside it is refused too.
 */
export async function resolveAttachmentFiles(attachments: Mail.Attachment[] | undefined, allowedDir: string): Promise<Mail.Attachment[] | undefined> {
  if (!attachments) return undefined;
  const resolved: Mail.Attachment[] = [];
  for (const attachment of attachments) {
    if (attachment.href !== undefined) {
      throw refused('An attachment with "href" was refused', 'Read the content in the flow (e.g. with an http request node) and give it as attachment content.');
    }
    if (attachment.path === undefined) {
      resolved.push(attachment);
      continue;
    }
    const given = String(attachment.path);
    if (/^[a-z][a-z0-9+.-]*:/i.test(given) && !/^[a-z]:[\\/]/i.test(given)) {
      throw refused(`The attachment path "${given.slice(0, 80)}" is a URL`, 'Give a file path inside the node\'s attachment folder, or the content itself.');
    }
    if (!allowedDir) {
      throw refused(`The attachment "${path.basename(given)}" is given by path, but no attachment folder is set`, 'Set "Attachments from" in the node to the folder the files may come from, or give the content instead of a path.');
    }
    let folder: string;
    let file: string;
    try {
      folder = await fs.realpath(allowedDir);
      file = await fs.realpath(path.resolve(allowedDir, given));
    } catch (error) {
      throw refused(`The attachment file "${given}" cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 'Check that the file exists inside the node\'s attachment folder.');
    }
    if (!isInside(folder, file)) {
      throw refused(`The attachment file "${given}" is outside the allowed folder ${allowedDir}`, 'Move the file into the attachment folder set in the node, or give its content instead of a path.');
    }
    const content = await fs.readFile(file);
    const { path: _path, ...rest } = attachment;
    resolved.push({ ...rest, filename: rest.filename ?? path.basename(given), content });
  }
  return resolved;
}
