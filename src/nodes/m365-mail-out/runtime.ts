import type { Node, NodeAPI } from 'node-red';
import { parseMailOutConfig } from '../../config/mail-out-config';
import type { NodeProps } from '../shared/red';
import { runMailOutNode } from '../shared/mail-out-node';
import { checkAccountSetup } from '../shared/reader-node';

export default function registerMailOutNode(RED: NodeAPI): void {
  function M365MailOutNode(this: Node, props: NodeProps): void {
    RED.nodes.createNode(this, props);
    const { config, errors } = parseMailOutConfig(props);
    const account = checkAccountSetup(RED, this, props, errors);
    if (!account) return;
    runMailOutNode(RED, this, account, config);
  }

  RED.nodes.registerType('m365-mail-out', M365MailOutNode);
}
