/**
 * node-red-node-test-helper bound to the Node-RED under test, loading our built nodes (nodes/*.js:
 * the same files Node-RED loads from the package).
 */
import path from 'node:path';
import helper from 'node-red-node-test-helper';
import { nodeRedPackage, nodeRedRuntimePath } from './node-red-package';
import { NODE_TYPES } from './node-types';

helper.init(nodeRedRuntimePath());

const built = path.resolve(__dirname, '../../nodes');

/** The node modules as Node-RED loads them (module.exports = init function). */
export function builtNodes(): Array<(RED: unknown) => void> {
  return NODE_TYPES.map((type) => require(path.join(built, `${type}.js`)));
}

export { helper };

/** One of Node-RED's own node modules (e.g. 'function/10-function.js') of the Node-RED under test. */
export function coreNode(file: string): (RED: unknown) => void {
  const from = path.dirname(require.resolve(`${nodeRedPackage}/package.json`));
  return require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [from] }));
}
