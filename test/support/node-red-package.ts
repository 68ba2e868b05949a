/**
 * Which Node-RED the tests run against: `node-red` (4.x, devDependency) by default, or the package
 * named by NODE_RED_PACKAGE (the test runner sets `node-red-5` when running on Node 24).
 */
import path from 'node:path';

export const nodeRedPackage = process.env.NODE_RED_PACKAGE || 'node-red';

/** Path of the Node-RED runtime's main module, for node-red-node-test-helper's init(). */
export function nodeRedRuntimePath(): string {
  return require.resolve(nodeRedPackage);
}

/** Path of the `red.js` launcher of the selected Node-RED, for end-to-end runs of a real process. */
export function nodeRedLauncherPath(): string {
  return path.join(path.dirname(require.resolve(`${nodeRedPackage}/package.json`)), 'red.js');
}

export function nodeRedVersion(): string {
  return (require(`${nodeRedPackage}/package.json`) as { version: string }).version;
}
