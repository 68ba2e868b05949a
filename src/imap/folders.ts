/**
 * Folder listing for the editor's folder picker. Exchange has no SPECIAL-USE, so `specialUse` is
 * only what imapflow could tell from the server or the folder name.
 */
import { closeConnection, openConnection, type ImapConnectionOptions } from './connection';
import { toImapError } from './errors';

export interface FolderInfo {
  path: string;
  name: string;
  delimiter: string;
  specialUse?: string;
}

/**
 * Logs in, lists every folder, logs out.
 * @throws M365MailError
 */
export async function listFolders(options: ImapConnectionOptions): Promise<FolderInfo[]> {
  const { client } = await openConnection(options);
  try {
    const list = await client.list();
    return list
      .filter((entry) => !entry.flags?.has('\\Noselect') && !entry.flags?.has('\\NonExistent'))
      .map((entry) => ({
        path: entry.path,
        name: entry.name,
        delimiter: entry.delimiter ?? '/',
        ...(entry.specialUse ? { specialUse: entry.specialUse } : {}),
      }))
      .sort((a, b) => (a.path === 'INBOX' ? -1 : b.path === 'INBOX' ? 1 : a.path.localeCompare(b.path)));
  } catch (err) {
    throw toImapError(err, { action: 'list folders', mailbox: options.mailbox });
  } finally {
    await closeConnection(client);
  }
}
