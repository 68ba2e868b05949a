import type { Node, NodeAPI } from 'node-red';
import { parseImapReaderConfig } from '../../config/reader-config';
import type { NodeProps } from '../shared/red';
import { runtimeTranslator } from '../shared/red';
import { checkReaderSetup } from '../shared/reader-node';
import { showStatus } from '../shared/status';

export default function registerImapInNode(RED: NodeAPI): void {
  function M365ImapInNode(this: Node, props: NodeProps): void {
    RED.nodes.createNode(this, props);
    const { errors } = parseImapReaderConfig(props);
    const account = checkReaderSetup(RED, this, props, errors);
    if (!account) return;
    showStatus(this, { state: 'configured' }, runtimeTranslator(RED));
  }

  RED.nodes.registerType('m365-imap-in', M365ImapInNode);
}
