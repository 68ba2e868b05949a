/**
 * node-red-node-test-helper bound to the Node-RED under test, loading our built nodes (nodes/*.js:
 * the same files Node-RED loads from the package).
 */
import path from 'node:path';
import helper from 'node-red-node-test-helper';
import { nodeRedRuntimePath } from './node-red-package';

helper.init(nodeRedRuntimePath());

const built = path.resolve(__dirname, '../../nodes');

/** The node modules as Node-RED loads them (module.exports = init function). */
export function builtNodes(): Array<(RED: unknown) => void> {
  return ['m365-account', 'm365-imap-in', 'm365-pop3-in', 'm365-imap-action'].map((type) => require(path.join(built, `${type}.js`)));
}

export { helper };
