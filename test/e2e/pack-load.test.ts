/**
 * The package as users get it: `npm pack`, installed into a fresh Node-RED user directory, loads
 * every node type with no error or warning in a real Node-RED process (run once per supported
 * runtime: Node-RED 4 on Node 20, Node-RED 5 on Node 24 — see scripts/test.mjs). The code ships
 * once: one runtime bundle, each node file a thin entry into it.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { nodeRedLauncherPath, nodeRedVersion } from '../support/node-red-package';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { installPackedPackage, type PackedInstall } from '../support/packed-package';
import { NODE_TYPES } from '../support/node-types';

// Node-RED prints these about its own set-up (no projects, an empty flow without credentials)
// whatever nodes are installed; everything else at warn or error level fails the test.
const NODE_RED_OWN_NOTICES = ['Projects disabled : set editorTheme.projects.enabled=true to enable', 'Encrypted credentials not found'];

interface NodeSetInfo {
  module: string;
  types: string[];
  enabled: boolean;
  err?: string;
}

describe(`packed package in a real Node-RED ${nodeRedVersion()} on Node ${process.version}`, function () {
  this.timeout(180000);
  let installed: PackedInstall | undefined;
  let nodeRed: NodeRedProcess | undefined;

  before(function () {
    installed = installPackedPackage();
  });

  after(async function () {
    await nodeRed?.stop();
    installed?.remove();
  });

  // One runtime bundle for all nodes: the package's code ships (and runs) once.
  it('ships the code once: one runtime bundle and a thin entry per node type', function () {
    const nodesDir = path.join(installed!.userDir, 'node_modules', '@m365-mail', 'node-red-m365-mail', 'nodes');
    const scripts = readdirSync(nodesDir).filter((name) => name.endsWith('.js')).sort();
    assert.deepEqual(scripts, [...NODE_TYPES.map((type) => `${type}.js`), 'runtime.js'].sort());
    for (const type of NODE_TYPES) {
      assert.ok(statSync(path.join(nodesDir, `${type}.js`)).size < 512, `${type}.js is a thin entry`);
    }
  });

  it('loads every node type of package.json with no error or warning in the log', async function () {
    nodeRed = await startNodeRed({
      userDir: installed!.userDir,
      launcher: nodeRedLauncherPath(),
      flows: [],
    });
    await nodeRed.waitForLog(/Started flows/);
    const response = await fetch(`${nodeRed.url}/nodes`, { headers: { Accept: 'application/json' } });
    assert.equal(response.status, 200);
    const sets = (await response.json()) as NodeSetInfo[];
    const ours = sets.filter((s) => s.module === '@m365-mail/node-red-m365-mail');
    assert.deepEqual(ours.flatMap((s) => s.types).sort(), [...NODE_TYPES].sort());
    for (const set of ours) {
      assert.equal(set.err, undefined, `${set.types.join(',')} loaded without error`);
      assert.ok(set.enabled, `${set.types.join(",")} enabled: ${JSON.stringify(set)}`);
    }
    const problems = nodeRed.log().split('\n')
      .filter((line) => /\[(error|warn)\]/.test(line))
      .filter((line) => !NODE_RED_OWN_NOTICES.some((notice) => line.includes(notice)));
    assert.deepEqual(problems, [], 'no [error] or [warn] lines in the Node-RED log');
    // The editor gets our HTML (form + help) and the icons.
    const html = await (await fetch(`${nodeRed.url}/nodes`, { headers: { Accept: 'text/html' } })).text();
    for (const type of NODE_TYPES) {
      assert.ok(html.includes(`data-template-name="${type}"`), `${type} form template served`);
      assert.ok(html.includes(`data-help-name="${type}"`), `${type} help served`);
    }
    const icon = await fetch(`${nodeRed.url}/icons/@m365-mail/node-red-m365-mail/m365-mail.svg`);
    assert.equal(icon.status, 200);
    assert.match(String(icon.headers.get('content-type')), /svg/);
  });
});
