/**
 * The package as users get it: `npm pack` of the built tree, installed with npm into a fresh
 * Node-RED user directory. Shared by the pack-load test and the browser tests.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');

export interface PackedInstall {
  /** Temporary directory holding the tarball and the user directory. */
  workDir: string;
  /** Node-RED user directory with the package in its node_modules. */
  userDir: string;
  /** Removes the work directory (stop Node-RED first). */
  remove(): void;
}

/**
 * npm runs on the same Node as the tests, with NODE_EXTRA_CA_CERTS pointing at the test bed's CA.
 * A Node built with its own CA bundle (the Node 24 runtime of the test runner, unlike Debian's Node)
 * then no longer trusts what the machine trusts for the registry: let it use the OS store too.
 */
function npmEnvironment(): NodeJS.ProcessEnv {
  if (!process.allowedNodeEnvironmentFlags.has('--use-system-ca')) return process.env;
  return { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --use-system-ca`.trim() };
}

/**
 * Packs the already built package (nodes/ must exist: the test runner builds it) and installs the
 * tarball into a new user directory, production dependencies only.
 */
export function installPackedPackage(prefix = 'm365-pack-'): PackedInstall {
  const workDir = mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    // --ignore-scripts: the test runner has built nodes/ already; skip the prepare script's second build.
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', workDir, '--loglevel=error'], { cwd: root, stdio: 'ignore' });
    const tarball = readdirSync(workDir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack produced a tarball');
    const userDir = path.join(workDir, 'userDir');
    execFileSync('npm', ['install', '--prefix', userDir, '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev', '--loglevel=error', path.join(workDir, tarball)], { stdio: 'ignore', env: npmEnvironment() });
    return { workDir, userDir, remove: () => rmSync(workDir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(workDir, { recursive: true, force: true });
    throw error;
  }
}
