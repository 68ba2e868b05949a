import type { Node, NodeAPI } from 'node-red';
import { parsePop3ReaderConfig } from '../../config/reader-config';
import { Pop3Poller } from '../../pop3';
import { pop3TunnelFactory, mailProxy } from '../shared/mail-proxy';
import type { NodeProps } from '../shared/red';
import { checkAccountSetup, runReaderNode } from '../shared/reader-node';
import { checkpointStore } from '../shared/storage';

export default function registerPop3InNode(RED: NodeAPI): void {
  function M365Pop3InNode(this: Node, props: NodeProps): void {
    RED.nodes.createNode(this, props);
    const node = this;
    const { config, errors } = parsePop3ReaderConfig(props);
    const account = checkAccountSetup(RED, node, props, errors);
    if (!account) return;

    runReaderNode(RED, node, account, config, 'pop3', (context) => {
      const { host, port } = context.provider.endpoints.pop3;
      const proxy = mailProxy(host, port, account.accountConfig.proxy);
      return new Pop3Poller({
        host, port,
        mailbox: context.mailbox,
        tokenSource: context.provider,
        appOnly: context.appOnly,
        socketFactory: proxy ? pop3TunnelFactory(proxy) : undefined,
        logger: { debug: (m: string) => node.debug(m), warn: (m: string) => node.warn(m) },
        // The set of UIDLs already sent belongs to this node and mailbox.
        uidlStore: checkpointStore(RED),
        uidlKey: `pop3:${node.id}:${context.mailbox.toLowerCase()}`,
        mode: config.mode,
        intervalSec: config.interval,
        batchSize: config.batchSize,
        disposition: config.disposition,
      }, {
        onMail: (source, meta) => context.deliver(source, { protocol: 'pop3', mailbox: meta.mailbox, uidl: meta.uidl, size: meta.size }),
        onStatus: context.onStatus,
        onError: context.onError,
      });
    });
  }

  RED.nodes.registerType('m365-pop3-in', M365Pop3InNode);
}
