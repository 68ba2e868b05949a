/**
 * The editor in a real browser: headless Chromium against a real Node-RED process with the packed
 * package installed and the local Microsoft 365 stand-in (identity server + Dovecot). The tests
 * build one flow step by step, as a user would — so they run in order and share the page:
 * account + Test connection, imap in → debug with a delivered mail, the folder picker, pop3 in,
 * imap action, a device-code sign-in. Each form is photographed into artifacts/screenshots/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { USER_PASSWORD, USERS } from '../env/identity/directory';
import { startTestBed, type TestAccount, type TestBed } from '../env/testbed';
import { launchChromium } from '../support/browser';
import { nodeRedLauncherPath, nodeRedVersion } from '../support/node-red-package';
import { EDITOR_TEST_SETTINGS, NodeRedEditor } from '../support/node-red-editor';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { installPackedPackage, type PackedInstall } from '../support/packed-package';

// Node-RED 4 (the devDependency) photographs into artifacts/screenshots/, other runtimes into a
// subfolder, since the test runner runs both at once.
const NODE_RED_MAJOR = nodeRedVersion().split('.')[0];
const SCREENSHOTS = path.resolve(__dirname, '../../artifacts/screenshots', NODE_RED_MAJOR === '4' ? '' : `node-red-${NODE_RED_MAJOR}`);
const STEPS = ['config', 'token', 'explain', 'imap', 'pop3', 'folders'];

function mail(subject: string, body: string): string {
  return [
    'From: Browser Test <sender@example.com>', `To: ${USERS.alice}`, `Subject: ${subject}`,
    `Message-ID: <${Date.now()}.${subject.replace(/\W/g, '')}@example.com>`, `Date: ${new Date().toUTCString()}`,
    'Content-Type: text/plain; charset=utf-8', '', body, '',
  ].join('\r\n');
}

describe(`editor in headless Chromium (Node-RED ${nodeRedVersion()}, packed package, test bed)`, function () {
  this.timeout(60000);
  let bed: TestBed;
  let installed: PackedInstall | undefined;
  let nodeRed: NodeRedProcess | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  let editor: NodeRedEditor;
  let daemon: TestAccount;
  // Filled in as the flow is built.
  let imapId = '';
  let debugId = '';
  let pop3Id = '';

  /** Screenshot of the whole editor, with the mouse parked on the empty workspace so no tooltip shows. */
  async function shoot(name: string): Promise<void> {
    await page.mouse.move(640, 760);
    await page.locator('.red-ui-popover:visible').first().waitFor({ state: 'hidden' });
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), animations: 'disabled' });
  }
  const input = (id: string) => editor.tray().locator(`#${id}`);

  /** Types the test bed's custom endpoints and the daemon app into the open account dialog. */
  async function fillDaemonAccount(): Promise<void> {
    const p = daemon.properties;
    await input('node-config-input-name').fill('Contoso (app-only)');
    await input('node-config-input-cloud').selectOption('custom');
    await input('node-config-input-authorityHost').fill(p.authorityHost);
    await input('node-config-input-imapHost').fill(p.imapHost);
    await input('node-config-input-imapPort').fill(p.imapPort);
    await input('node-config-input-pop3Host').fill(p.pop3Host);
    await input('node-config-input-pop3Port').fill(p.pop3Port);
    await input('node-config-input-resource').fill(p.resource);
    await input('node-config-input-tenant').fill(p.tenant);
    await input('node-config-input-clientId').fill(p.clientId);
    await input('node-config-input-authType').selectOption('client-secret');
    await input('node-config-input-clientSecret').fill(String(daemon.credentials.clientSecret));
  }

  /** Presses Test connection and waits for the steps. */
  async function runConnectionTest(): Promise<Array<{ step: string; ok: boolean; text: string }>> {
    const steps = editor.tray().locator('#m365-test-steps');
    await editor.tray().locator('#m365-test').click();
    await editor.tray().locator('#m365-test-steps[data-state="done"]').waitFor({ timeout: 30000 });
    const rows = steps.locator('.m365-step');
    await rows.last().scrollIntoViewIfNeeded();
    return rows.evaluateAll((els) => els.map((el) => ({ step: el.getAttribute('data-step') ?? '', ok: el.getAttribute('data-ok') === 'true', text: el.textContent ?? '' })));
  }

  before(async function () {
    this.timeout(120000);
    mkdirSync(SCREENSHOTS, { recursive: true });
    bed = await startTestBed();
    daemon = bed.accountFor('daemon');
    installed = installPackedPackage('m365-editor-');
    // NODE_EXTRA_CA_CERTS (the bed's CA) reaches Node-RED through process.env.
    nodeRed = await startNodeRed({ userDir: installed.userDir, launcher: nodeRedLauncherPath(), flows: [], settings: EDITOR_TEST_SETTINGS });
    browser = await launchChromium();
    // The identity server's pages use the bed's own CA, which Chromium does not know.
    context = await browser.newContext({ viewport: { width: 1200, height: 800 }, ignoreHTTPSErrors: true });
    page = await context.newPage();
    editor = new NodeRedEditor(page);
    await editor.open(nodeRed.url, 'm365-imap-in');
  });

  after(async function () {
    this.timeout(30000);
    await browser?.close();
    await nodeRed?.stop();
    installed?.remove();
    await bed?.stop();
  });

  it('lists the reader and action nodes under their own "Microsoft 365" palette category', async function () {
    const category = page.locator('#red-ui-palette-container-Microsoft_365');
    await category.scrollIntoViewIfNeeded();
    assert.equal((await page.locator('#red-ui-palette-header-Microsoft_365').innerText()).trim(), 'Microsoft 365');
    for (const type of ['m365-imap-in', 'm365-pop3-in', 'm365-imap-action', 'm365-mail-out']) {
      const paletteNode = category.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
      await paletteNode.waitFor();
      assert.equal(await paletteNode.evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(80, 169, 226)');
      assert.match(String(await paletteNode.locator('.red-ui-palette-icon').getAttribute('style')), /m365-(mail|pop3|action|mail-out)\.svg/);
    }
  });

  it('adds an imap in node from the palette and a new account whose Test connection shows every step green', async function () {
    imapId = await editor.addFromPalette('m365-imap-in', 220, 120);
    await editor.edit(imapId);
    await editor.tray().locator('#node-input-btn-account-add').click();
    await input('node-config-input-tenant').waitFor();
    // The global cloud shows its hosts read-only; custom makes them editable.
    assert.equal(await input('node-config-input-imapHost').inputValue(), 'outlook.office365.com');
    assert.equal(await input('node-config-input-imapHost').getAttribute('readonly'), '');
    await input('node-config-input-tenant').fill('not a tenant');
    await editor.tray().locator('#m365-tenant-invalid').filter({ hasText: 'Directory (tenant) ID' }).waitFor();
    await input('node-config-input-clientId').fill('12345');
    await editor.tray().locator('#m365-clientId-invalid').filter({ hasText: 'GUID' }).waitFor();
    // Each sign-in method shows its own fields.
    await input('node-config-input-authType').selectOption('client-certificate');
    await input('node-config-input-privateKey').waitFor({ state: 'visible' });
    await input('node-config-input-certificateThumbprint').waitFor({ state: 'visible' });
    await input('node-config-input-clientSecret').waitFor({ state: 'hidden' });
    await input('node-config-input-authType').selectOption('device-code');
    await editor.tray().locator('#m365-signin').waitFor({ state: 'visible' });
    await input('node-config-input-privateKey').waitFor({ state: 'hidden' });
    await fillDaemonAccount();
    await editor.tray().locator('#m365-signin').waitFor({ state: 'hidden' });
    assert.equal(await input('node-config-input-imapHost').getAttribute('readonly'), null);
    assert.equal(await editor.tray().locator('#m365-tenant-invalid').innerText(), '');
    assert.equal(await editor.tray().locator('#m365-clientId-invalid').innerText(), '');
    await input('node-config-input-name').scrollIntoViewIfNeeded();
    await shoot('account-form');

    await input('m365-test-mailbox').fill(daemon.mailbox);
    const steps = await runConnectionTest();
    assert.deepEqual(steps.map((s) => s.step), STEPS);
    for (const s of steps) assert.ok(s.ok, `step ${s.step} green: ${s.text}`);
    assert.match(steps.find((s) => s.step === 'folders')?.text ?? '', /Archive/);
    await shoot('account-test-connection');
  });

  it('shows the AADSTS7000215 fix-it text when the secret is wrong', async function () {
    await input('node-config-input-clientSecret').fill('wrong-secret-value');
    const steps = await runConnectionTest();
    const token = steps.find((s) => s.step === 'token');
    assert.ok(token && !token.ok, 'token step failed');
    assert.match(token.text, /AADSTS7000215/);
    const fix = await editor.tray().locator('#m365-test-steps [data-step="token"] .m365-step-fix').innerText();
    assert.match(fix, /secret/i, 'fix-it text names the secret');
    // Server text is rendered as text: no element came from it.
    assert.equal(await editor.tray().locator('#m365-test-steps .m365-step-fix *').count(), 0);
    await shoot('account-test-wrong-secret');
    await input('node-config-input-clientSecret').fill(String(daemon.credentials.clientSecret));
  });

  it('deploys imap in → debug and shows a delivered mail in the debug sidebar', async function () {
    await editor.confirmTray(); // Add the account
    await input('node-input-mailbox').fill(daemon.mailbox);
    assert.equal(await input('node-input-folder').inputValue(), 'INBOX');
    // The folder picker works before anything is deployed (the account exists only in the editor).
    await editor.tray().locator('#m365-pick-folder').click();
    const undeployedPicker = editor.tray().locator('#m365-folder-status select.m365-folder-select');
    await undeployedPicker.waitFor();
    const listed = await undeployedPicker.locator('option').evaluateAll((els) => els.map((el) => (el as HTMLOptionElement).value));
    assert.ok(listed.includes('Archive'), `folders of the undeployed account: ${listed.join(', ')}`);
    assert.equal(await input('node-input-folder').inputValue(), 'INBOX', 'listing folders does not change the choice');
    // Fields follow the choices: interval for push/poll, the JSON editor for custom criteria, …
    await input('node-input-criteria').selectOption('custom');
    await editor.tray().locator('#m365-custom-criteria-editor').waitFor({ state: 'visible' });
    await input('node-input-criteria').selectOption('new');
    await editor.tray().locator('#m365-custom-criteria-editor').waitFor({ state: 'hidden' });
    await input('node-input-disposition').selectOption('move');
    await input('node-input-moveTo').waitFor({ state: 'visible' });
    await input('node-input-disposition').selectOption('none');
    await input('node-input-moveTo').waitFor({ state: 'hidden' });
    await shoot('imap-in-form');
    await editor.confirmTray();
    await editor.node(imapId).locator('.red-ui-flow-node-label', { hasText: `${USERS.alice} / INBOX` }).waitFor({ timeout: 10000 });

    debugId = await editor.addFromPalette('debug', 560, 120);
    await editor.wire(imapId, debugId);
    await editor.deploy();
    await editor.status(imapId).filter({ hasText: 'watching' }).waitFor({ timeout: 20000 });

    // The sidebar starts empty, so what shows up is the delivered mail.
    await editor.showDebugSidebar();
    await editor.clearDebug();
    await bed.dovecot.deliver(USERS.alice, mail('Browser test mail', 'Hello from the browser test'));
    await editor.debugMessage('Hello from the browser test').waitFor({ timeout: 20000 });
    await shoot('debug-sidebar-mail');
  });

  it('fills the folder from the server-fed folder picker, and typing still works', async function () {
    await editor.edit(imapId);
    await editor.tray().locator('#m365-pick-folder').click();
    const picker = editor.tray().locator('#m365-folder-status select.m365-folder-select');
    await picker.waitFor();
    const offered = await picker.locator('option').evaluateAll((els) => els.map((el) => (el as HTMLOptionElement).value));
    for (const folder of ['INBOX', 'Archive', 'Sent Items']) assert.ok(offered.includes(folder), `${folder} offered: ${offered.join(', ')}`);
    await picker.selectOption('Archive');
    assert.equal(await input('node-input-folder').inputValue(), 'Archive');
    await shoot('imap-in-folder-picker');
    await input('node-input-folder').fill('INBOX/Orders');
    assert.equal(await input('node-input-folder').inputValue(), 'INBOX/Orders');
    await editor.cancelTray();
  });

  it('adds a pop3 in node that reuses the account, deploys it and shows the mailbox\'s mail in the debug sidebar', async function () {
    pop3Id = await editor.addFromPalette('m365-pop3-in', 220, 220);
    await editor.edit(pop3Id);
    await input('node-input-account').selectOption({ label: 'Contoso (app-only)' });
    await input('node-input-mailbox').fill(daemon.mailbox);
    assert.equal(await editor.tray().locator('#node-input-folder').count(), 0, 'POP3 has no folder');
    await input('node-input-mode').selectOption('trigger');
    await input('node-input-interval').waitFor({ state: 'hidden' });
    await input('node-input-mode').selectOption('poll');
    await shoot('pop3-in-form');
    await editor.confirmTray();
    // The canvas redraws the label after the tray closes: wait for it rather than read it once.
    await editor.node(pop3Id).locator('.red-ui-flow-node-label', { hasText: `${USERS.alice} (POP3)` }).waitFor({ timeout: 10000 });
    const pop3DebugId = await editor.addFromPalette('debug', 560, 220);
    await editor.wire(pop3Id, pop3DebugId);
    await editor.clearDebug();
    await editor.deploy();
    // The first poll sends what is in the mailbox: the mail delivered in the IMAP test.
    const pop3DebugName = await editor.node(pop3DebugId).locator('.red-ui-flow-node-label').textContent();
    await editor.debugMessage('Hello from the browser test').filter({ hasText: `node: ${pop3DebugName}` }).waitFor({ timeout: 20000 });
    assert.doesNotMatch(nodeRed!.log(), /\[error\]/);
  });

  it('adds an imap action node: the rows follow the action, folders come from the server, the label names the action', async function () {
    const actionId = await editor.addFromPalette('m365-imap-action', 400, 300);
    await editor.edit(actionId);
    await input('node-input-account').selectOption({ label: 'Contoso (app-only)' });
    await input('node-input-mailbox').fill(daemon.mailbox);
    assert.equal(await input('node-input-action').inputValue(), 'read');
    assert.equal(await input('node-input-folder').inputValue(), 'INBOX');
    await input('node-input-target').waitFor({ state: 'hidden' });
    await input('node-input-keyword').waitFor({ state: 'hidden' });
    await input('node-input-action').selectOption('add-keyword');
    await input('node-input-keyword').waitFor({ state: 'visible' });
    await input('node-input-action').selectOption('fetch');
    await input('node-input-output').waitFor({ state: 'visible' });
    await input('node-input-keyword').waitFor({ state: 'hidden' });
    await input('node-input-action').selectOption('move');
    await input('node-input-target').waitFor({ state: 'visible' });
    await input('node-input-output').waitFor({ state: 'hidden' });
    await editor.tray().locator('#m365-pick-target').click();
    const picker = editor.tray().locator('#m365-target-status select.m365-folder-select');
    await picker.waitFor();
    await picker.selectOption('Archive');
    assert.equal(await input('node-input-target').inputValue(), 'Archive');
    await shoot('imap-action-form');
    await editor.confirmTray();
    await editor.node(actionId).locator('.red-ui-flow-node-label', { hasText: 'Move to folder' }).waitFor({ timeout: 10000 });
  });

  it('adds a mail out node: sender, default recipients and pace; the label names sender and recipients', async function () {
    const sendId = await editor.addFromPalette('m365-mail-out', 560, 300);
    await editor.edit(sendId);
    await input('node-input-account').selectOption({ label: 'Contoso (app-only)' });
    assert.equal(await input('node-input-pace').inputValue(), '30');
    await input('node-input-mailbox').fill(daemon.mailbox);
    await input('node-input-to').fill('ops@contoso.com');
    await input('node-input-subject').fill('Alert from Node-RED');
    await shoot('mail-out-form');
    await editor.confirmTray();
    await editor.node(sendId).locator('.red-ui-flow-node-label', { hasText: `${USERS.alice} → ops@contoso.com` }).waitFor({ timeout: 10000 });
    // Not deployed: this bed has no SMTP, and the account's Test connection below covers IMAP and POP3.
    await editor.node(sendId).click();
    await page.keyboard.press('Delete');
    await editor.node(sendId).waitFor({ state: 'detached' });
  });

  it('signs in with a device code: shows code and link, the user signs in, the dialog reports who', async function () {
    const pub = bed.accountFor('public').properties;
    await editor.clearDebug();
    await editor.edit(pop3Id);
    await editor.tray().locator('#node-input-btn-account-add').click();
    await input('node-config-input-tenant').waitFor();
    await input('node-config-input-name').fill('Alice (device code)');
    await input('node-config-input-cloud').selectOption('custom');
    await input('node-config-input-authorityHost').fill(pub.authorityHost);
    await input('node-config-input-imapHost').fill(pub.imapHost);
    await input('node-config-input-imapPort').fill(pub.imapPort);
    await input('node-config-input-pop3Host').fill(pub.pop3Host);
    await input('node-config-input-pop3Port').fill(pub.pop3Port);
    await input('node-config-input-resource').fill(pub.resource);
    await input('node-config-input-tenant').fill(pub.tenant);
    await input('node-config-input-clientId').fill(pub.clientId);
    await input('node-config-input-authType').selectOption('device-code');
    await editor.tray().locator('#m365-signin-status').filter({ hasText: 'Not signed in' }).waitFor();

    await editor.tray().locator('#m365-signin').click();
    const code = editor.tray().locator('#m365-user-code');
    await code.waitFor();
    const userCode = (await code.innerText()).trim();
    assert.match(userCode, /^[A-Z0-9-]{6,}$/);
    await shoot('account-device-code');

    // The user follows the link in a second tab and signs in there.
    const [userPage] = await Promise.all([context.waitForEvent('page'), editor.tray().locator('#m365-verification-link').click()]);
    await userPage.locator('#otc').fill(userCode);
    await userPage.locator('#username').fill(USERS.alice);
    await userPage.locator('#password').fill(USER_PASSWORD);
    await userPage.locator('#continue').click();
    await userPage.locator('#result').filter({ hasText: 'Signed in' }).waitFor();
    await userPage.close();

    await editor.tray().locator('#m365-signed-in-as').filter({ hasText: USERS.alice }).waitFor({ timeout: 20000 });
    assert.ok(await editor.tray().locator('#m365-signout').isVisible(), 'Sign out offered');
    await shoot('account-signed-in');

    // The signed-in user's own mailbox: Test connection with an empty mailbox field.
    const steps = await runConnectionTest();
    for (const s of steps) assert.ok(s.ok, `step ${s.step} green: ${s.text}`);
    assert.match(steps.find((s) => s.step === 'explain')?.text ?? '', /IMAP\.AccessAsUser\.All/);

    await editor.tray().locator('#m365-signout').click();
    await editor.tray().locator('#m365-signin-status').filter({ hasText: 'Not signed in' }).waitFor();
    assert.ok(await editor.tray().locator('#m365-signin').isVisible(), 'Sign in offered again');
  });

  it('signs in through the browser (auth code): Microsoft\'s page opens in a new window and the dialog hears back', async function () {
    await input('node-config-input-authType').selectOption('auth-code');
    const redirectUri = await editor.tray().locator('#m365-redirect-uri').innerText();
    assert.equal(redirectUri, `${nodeRed!.url}/m365-mail/auth-code/callback`);
    const [signInWindow] = await Promise.all([context.waitForEvent('page'), editor.tray().locator('#m365-signin').click()]);
    await signInWindow.locator('#username').fill(USERS.alice);
    await signInWindow.locator('#password').fill(USER_PASSWORD);
    await signInWindow.locator('#signin').click();
    await editor.tray().locator('#m365-signed-in-as').filter({ hasText: USERS.alice }).waitFor({ timeout: 20000 });
    if (!signInWindow.isClosed()) await signInWindow.close();
    await editor.tray().locator('#m365-signout').click();
    await editor.tray().locator('#m365-signin-status').filter({ hasText: 'Not signed in' }).waitFor();
    await editor.cancelTray();
    await editor.cancelTray();
  });
});
