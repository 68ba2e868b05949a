import type { MailboxSender } from '../../smtp';

/**
 * One SMTP connection per account + mailbox: every m365-mail-out node that sends as the same
 * mailbox of the same account uses the same sender (connection, pace, token refresh). The last
 * node to let go closes it.
 */
const senders = new Map<string, { sender: MailboxSender; users: Set<string> }>();

export function acquireSender(accountId: string, mailbox: string, nodeId: string, create: () => MailboxSender): MailboxSender {
  const key = `${accountId}\n${mailbox.toLowerCase()}`;
  let entry = senders.get(key);
  if (!entry) {
    entry = { sender: create(), users: new Set() };
    senders.set(key, entry);
  }
  entry.users.add(nodeId);
  return entry.sender;
}

export async function releaseSender(accountId: string, mailbox: string, nodeId: string): Promise<void> {
  const key = `${accountId}\n${mailbox.toLowerCase()}`;
  const entry = senders.get(key);
  if (!entry) return;
  entry.users.delete(nodeId);
  if (entry.users.size > 0) return;
  senders.delete(key);
  await entry.sender.close();
}
