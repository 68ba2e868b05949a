import type { Node, NodeAPI } from 'node-red';
import { parsePop3ReaderConfig } from '../../config/reader-config';
import type { NodeProps } from '../shared/red';
import { runtimeTranslator } from '../shared/red';
import { checkReaderSetup } from '../shared/reader-node';
import { showStatus } from '../shared/status';

export default function registerPop3InNode(RED: NodeAPI): void {
  function M365Pop3InNode(this: Node, props: NodeProps): void {
    RED.nodes.createNode(this, props);
    const { errors } = parsePop3ReaderConfig(props);
    const account = checkReaderSetup(RED, this, props, errors);
    if (!account) return;
    showStatus(this, { state: 'configured' }, runtimeTranslator(RED));
  }

  RED.nodes.registerType('m365-pop3-in', M365Pop3InNode);
}
