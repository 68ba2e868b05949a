// Installs a package into its own folder under .cache (once), outside the project's lock file:
// for what `npm ci` cannot take (Node-RED 5 and node-red-node-email bring bundled dependencies,
// which make it reject an otherwise valid lock file). Used by scripts/test.mjs and the bench.
const { execFileSync } = require('node:child_process');
const { existsSync, mkdirSync, writeFileSync } = require('node:fs');
const path = require('node:path');

/**
 * Runs `npm install <spec>` in `dir` unless `marker` exists yet.
 * @param {string} dir folder under .cache that gets its own package.json
 * @param {string} marker a file that exists once the package is installed
 * @param {string} spec what to install, e.g. node-red@5.0.7
 * @param {string} who prefix of the progress line (test, bench)
 */
function ensureCached(dir, marker, spec, who) {
  if (existsSync(marker)) return;
  console.log(`${who}: installing ${spec} into ${path.relative(path.resolve(__dirname, '..'), dir)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: path.basename(dir), private: true }));
  execFileSync('npm', ['install', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', '--engine-strict=false', spec], { cwd: dir, stdio: 'inherit' });
}

module.exports = { ensureCached };
