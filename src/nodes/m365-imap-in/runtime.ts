import type { Node, NodeAPI } from 'node-red';
import { parseImapReaderConfig } from '../../config/reader-config';
import { MailboxWatcher, parseCustomCriteria } from '../../imap';
import { mailProxy } from '../shared/mail-proxy';
import { debugLoggingEnabled, type NodeProps } from '../shared/red';
import { checkAccountSetup, runReaderNode } from '../shared/reader-node';
import { checkpointStore } from '../shared/storage';

export default function registerImapInNode(RED: NodeAPI): void {
  function M365ImapInNode(this: Node, props: NodeProps): void {
    RED.nodes.createNode(this, props);
    const node = this;
    const { config, errors } = parseImapReaderConfig(props);
    const account = checkAccountSetup(RED, node, props, errors);
    if (!account) return;

    runReaderNode(RED, node, account, config, 'imap', (context) => {
      // The checkpoint belongs to this node, mailbox and folder: another node or folder starts fresh.
      return new MailboxWatcher({
        host: context.provider.endpoints.imap.host,
        port: context.provider.endpoints.imap.port,
        mailbox: context.mailbox,
        tokenSource: context.provider,
        appOnly: context.appOnly,
        proxy: mailProxy(context.provider.endpoints.imap.host, context.provider.endpoints.imap.port, account.accountConfig.proxy)?.toString(),
        logger: { debug: (m: string) => node.debug(m), warn: (m: string) => node.warn(m), debugEnabled: debugLoggingEnabled(RED) },
        checkpointStore: checkpointStore(RED),
        // The checkpoint belongs to this node, mailbox and folder: another node or folder starts fresh.
        checkpointKey: `imap:${node.id}:${context.mailbox.toLowerCase()}:${config.folder}`,
        folder: config.folder,
        mode: config.mode,
        intervalSec: config.interval,
        criteria: config.criteria,
        customCriteria: config.criteria === 'custom' ? parseCustomCriteria(config.customCriteria) : undefined,
        batchSize: config.batchSize,
        disposition: config.disposition,
        moveTo: config.moveTo || undefined,
      }, {
        onMail: (source, meta) => context.deliver(source, { protocol: 'imap', mailbox: meta.mailbox, folder: meta.folder, uid: meta.uid, uidValidity: meta.uidValidity, flags: meta.flags, size: meta.size }),
        onStatus: context.onStatus,
        onError: context.onError,
        onWarning: (warning) => context.warn(warning.message),
      });
    });
  }

  RED.nodes.registerType('m365-imap-in', M365ImapInNode);
}
