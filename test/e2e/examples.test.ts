/**
 * Every flow in examples/ (shown under Import → Examples) deploys into a fresh Node-RED with no
 * error: the example accounts use device-code sign-in, so until a user signs in the readers wait
 * ("not signed in") instead of failing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { linkPackageInto } from '../support/linked-package';
import { nodeRedLauncherPath, nodeRedVersion } from '../support/node-red-package';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { NODE_TYPES } from '../support/node-types';

const examplesDir = path.resolve(__dirname, '../../examples');
const examples = readdirSync(examplesDir).filter((f) => f.endsWith('.json')).sort();

interface FlowNode {
  id: string;
  type: string;
}

describe(`examples deploy into a fresh Node-RED ${nodeRedVersion()}`, function () {
  this.timeout(60000);
  let userDir: string;
  let nodeRed: NodeRedProcess;

  before(async function () {
    userDir = mkdtempSync(path.join(os.tmpdir(), 'm365-examples-'));
    linkPackageInto(userDir);
    nodeRed = await startNodeRed({ userDir, launcher: nodeRedLauncherPath(), flows: [] });
    await nodeRed.waitForLog(/Started flows/);
  });

  after(async function () {
    await nodeRed?.stop();
    rmSync(userDir, { recursive: true, force: true });
  });

  it('offers every example under Import → Examples', async function () {
    const response = await fetch(`${nodeRed.url}/library/examples/flows/@m365-mail/node-red-m365-mail`, { headers: { Accept: 'application/json' } });
    assert.equal(response.status, 200);
    const listed = JSON.stringify(await response.json());
    for (const file of examples) assert.ok(listed.includes(file.replace(/\.json$/, '')), `${file} is offered`);
  });

  it('uses every node type of the package in some example', function () {
    const types = new Set(examples.flatMap((file) => (JSON.parse(readFileSync(path.join(examplesDir, file), 'utf8')) as FlowNode[]).map((n) => n.type)));
    for (const type of NODE_TYPES) assert.ok(types.has(type), `${type} appears in an example`);
  });

  for (const file of examples) {
    it(`deploys "${file}" without error`, async function () {
      const flow = JSON.parse(readFileSync(path.join(examplesDir, file), 'utf8')) as FlowNode[];
      const logBefore = nodeRed.log().length;
      const response = await fetch(`${nodeRed.url}/flows`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify(flow),
      });
      assert.equal(response.status, 204, await response.text());
      await nodeRed.waitForLog(/Started flows/, 30000, logBefore);
      const deployed = (await (await fetch(`${nodeRed.url}/flows`)).json()) as FlowNode[];
      assert.deepEqual(deployed.map((n) => n.id).sort(), flow.map((n) => n.id).sort());
      const newLog = nodeRed.log().slice(logBefore);
      const problems = newLog.split('\n').filter((line) => /\[(error|warn)\]/.test(line));
      assert.deepEqual(problems, [], `no error or warning after deploying ${file}`);
    });
  }
});
