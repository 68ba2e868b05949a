/** The package's node types, from package.json's "node-red".nodes: the one list of them. */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const packageJson = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };

/** Every node type of the package, in package.json's order. */
export const NODE_TYPES: readonly string[] = Object.keys(packageJson['node-red'].nodes);
