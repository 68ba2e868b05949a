/**
 * Makes this repository an installed package of a Node-RED user directory by symlinking it into
 * userDir/node_modules (what `npm link` does): fast, and Node-RED loads the freshly built nodes/.
 */
import { mkdirSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';

export const PACKAGE_NAME = '@m365-mail/node-red-m365-mail';
const repoRoot = path.resolve(__dirname, '../..');

export function linkPackageInto(userDir: string): void {
  const target = path.join(userDir, 'node_modules', PACKAGE_NAME);
  mkdirSync(path.dirname(target), { recursive: true });
  if (!existsSync(target)) symlinkSync(repoRoot, target, 'dir');
  writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true, dependencies: { [PACKAGE_NAME]: `file:${repoRoot}` } }, null, 2));
}
