/**
 * The fixtures the runtime tests of this folder share. Each is called at the top of a `describe`,
 * registers the mocha hooks there and returns stand-ins that reach what the hooks started, so a
 * suite can write `const { bed, userDir } = useNodeRedBed({ userDirPrefix: 'm365-nr-' })` and use
 * `bed.dovecot` in its tests. Touching a stand-in at describe time (outside hooks and tests) throws.
 *
 * - useTestBed(): the test bed (identity server + Dovecot) for the whole describe.
 * - useNodeRedBed(): that, plus a Node-RED user directory for node-red-node-test-helper (fresh per
 *   test or per suite), the flow unloaded and the directory removed afterwards, and optionally the
 *   helper's admin app on a real loopback port.
 * - useNodeRedProcessBed(): the test bed plus a user directory with this package installed, for
 *   tests that run a real Node-RED process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestBed, type TestBed } from '../../env/testbed';
import { helper } from '../../support/helper';
import { linkPackageInto } from '../../support/linked-package';
import { serveAdminApp, type AdminServer } from './account-support';

/** The identity server's own default; tests that shorten it get it back after each test. */
const DEFAULT_TOKEN_LIFETIME_SEC = 3600;

export interface TempDir {
  path: string;
  remove(): void;
}

/** A fresh temp directory (user dir, attachment dir …). */
export function tempDir(prefix: string): TempDir {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { path: dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface NodeRedBedOptions {
  /** Prefix of the temporary Node-RED user directory (it names the suite in /tmp). */
  userDirPrefix: string;
  /** helper.settings besides userDir (credentialSecret, logging …). */
  settings?: Record<string, unknown>;
  /**
   * 'test' (default): a fresh user directory for every test; after each test the flow is unloaded
   * and the identity server's token lifetime is back at its default (tests shorten it).
   * 'suite': one user directory for the whole describe, the flow unloaded at its end.
   */
  scope?: 'test' | 'suite';
  /** Serve the helper's admin app on 127.0.0.1 (the browser sign-in redirects back to it). */
  adminApp?: boolean;
  /** Run the bed's SMTP submission too (`bed.smtp`). */
  smtp?: boolean;
}

export interface NodeRedBed {
  /** The test bed, started before the first test and stopped after the last. */
  bed: TestBed;
  /** The Node-RED user directory of the running test (or suite, with scope 'suite'). */
  userDir: { readonly path: string };
  /** The admin app's origin, http://127.0.0.1:PORT (only with adminApp: true). */
  admin: { readonly url: string };
}

/** Throws the fixture's own error for a stand-in touched outside the describe that made it. */
function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} exists only inside the hooks and tests of the describe that set it up`);
  return value;
}

/** A test bed for the caller's hooks to start and stop, and a stand-in that reaches it in between. */
function bedWithStandIn(startOptions: { smtp?: boolean } = {}): { standIn: TestBed; start(): Promise<void>; stop(): Promise<void> } {
  let bed: TestBed | undefined;
  const theBed = (): TestBed => started(bed, 'the test bed');
  return {
    standIn: {
      get ca() { return theBed().ca; },
      get identity() { return theBed().identity; },
      get dovecot() { return theBed().dovecot; },
      get smtp() { return theBed().smtp; },
      accountFor: (kind) => theBed().accountFor(kind),
      stop: () => theBed().stop(),
    },
    async start() {
      bed = await startTestBed(startOptions);
    },
    async stop() {
      await bed?.stop();
    },
  };
}

/** Starts the test bed before the describe's first test and stops it after its last; returns a stand-in for it. */
export function useTestBed(): TestBed {
  const testBed = bedWithStandIn();
  before(testBed.start);
  after(testBed.stop);
  return testBed.standIn;
}

/**
 * The test bed and a Node-RED user directory for node-red-node-test-helper (see the options),
 * the admin app if asked for. Teardown stops the flow before the servers it talks to.
 */
export function useNodeRedBed(options: NodeRedBedOptions): NodeRedBed {
  const testBed = bedWithStandIn({ smtp: options.smtp });
  const bed = testBed.standIn;
  let userDir: TempDir | undefined;
  let admin: AdminServer | undefined;
  const perTest = (options.scope ?? 'test') === 'test';

  const openUserDir = (): void => {
    userDir = tempDir(options.userDirPrefix);
    helper.settings({ ...options.settings, userDir: userDir.path });
  };
  const closeUserDir = async (): Promise<void> => {
    await helper.unload();
    userDir?.remove();
    userDir = undefined;
  };

  before(async function () {
    await testBed.start();
    if (options.adminApp) admin = await serveAdminApp();
    if (!perTest) openUserDir();
  });
  after(async function () {
    if (!perTest) await closeUserDir();
    await admin?.close();
    await testBed.stop();
  });
  if (perTest) {
    beforeEach(openUserDir);
    afterEach(async function () {
      await closeUserDir();
      bed.identity.tokenLifetimeSec = DEFAULT_TOKEN_LIFETIME_SEC;
    });
  }

  return {
    bed,
    userDir: { get path() { return started(userDir, 'the user directory').path; } },
    admin: { get url() { return started(admin, 'the admin app (adminApp: true)').url; } },
  };
}

export interface NodeRedProcessBedOptions {
  /** Prefix of the temporary user directory. */
  userDirPrefix: string;
  /** Stops the Node-RED process a test left running; called first, before the servers stop. */
  stopProcess(): Promise<unknown> | undefined;
  /** Run the bed's SMTP submission too (`bed.smtp`). */
  smtp?: boolean;
}

/**
 * The test bed and, for the whole describe, a user directory with this package installed (linked,
 * as `npm link` would), for tests that start a real Node-RED process on it. Afterwards the process
 * is stopped, then the bed, then the directory removed.
 */
export function useNodeRedProcessBed(options: NodeRedProcessBedOptions): Pick<NodeRedBed, 'bed' | 'userDir'> {
  const testBed = bedWithStandIn({ smtp: options.smtp });
  let userDir: TempDir | undefined;
  before(async function () {
    await testBed.start();
    userDir = tempDir(options.userDirPrefix);
    linkPackageInto(userDir.path);
  });
  after(async function () {
    await options.stopProcess();
    await testBed.stop();
    userDir?.remove();
  });
  return {
    bed: testBed.standIn,
    userDir: { get path() { return started(userDir, 'the user directory').path; } },
  };
}
