/**
 * The Node-RED editor as a user drives it, for browser tests: drag nodes from the palette, open
 * and close edit dialogs, wire ports, deploy, read the debug sidebar. Every step waits on what the
 * user would see (locators), never on a fixed delay.
 */
import type { Locator, Page } from 'playwright-core';

/** Settings for a Node-RED process under browser test: no tour, telemetry prompt or catalogue fetch. */
export const EDITOR_TEST_SETTINGS = {
  telemetry: { enabled: false },
  editorTheme: { tours: false, palette: { catalogues: [] }, projects: { enabled: false } },
};

interface EditorNodeInfo {
  id: string;
  type: string;
}

export class NodeRedEditor {
  constructor(readonly page: Page) {}

  /** Opens the editor and waits until the palette shows `paletteType`. */
  async open(url: string, paletteType: string): Promise<void> {
    await this.page.goto(url);
    await this.paletteNode(paletteType).waitFor();
  }

  paletteNode(type: string): Locator {
    return this.page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
  }

  /** The node's group in the workspace SVG. */
  node(id: string): Locator {
    return this.page.locator(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${id}"]`);
  }

  /** Drags a node from the palette onto the workspace at (x, y) and returns the new node's id. */
  async addFromPalette(type: string, x: number, y: number): Promise<string> {
    const before = new Set(await this.nodeIds(type));
    const source = this.paletteNode(type);
    await source.scrollIntoViewIfNeeded();
    await source.dragTo(this.page.locator('#red-ui-workspace-chart'), { targetPosition: { x, y } });
    const added = (await this.nodeIds(type)).filter((id) => !before.has(id));
    if (added.length !== 1) throw new Error(`expected one new ${type} node, found ${added.length}`);
    await this.node(added[0]).waitFor();
    return added[0];
  }

  /** Ids of the nodes of one type in the editor's model (read only). */
  nodeIds(type: string): Promise<string[]> {
    return this.page.evaluate((t) => {
      const red = (window as unknown as { RED: { nodes: { filterNodes(f: { type: string }): EditorNodeInfo[] } } }).RED;
      return red.nodes.filterNodes({ type: t }).map((n) => n.id);
    }, type);
  }

  /** Double-clicks a node and waits for its edit dialog. */
  async edit(id: string): Promise<void> {
    const ok = this.trayButton('#node-dialog-ok');
    // Playwright dispatches the clicks and only then sees the editor's shade (fading in as the tray
    // opens) over the node, and retries: the tray is open by then and covers the node, so the
    // retries never end although the first double-click worked. Hence short tries, each followed
    // by a look for the dialog.
    for (let attempt = 0; attempt < 3 && (attempt === 0 || !(await ok.isVisible())); attempt++) {
      await this.node(id).locator('.red-ui-flow-node').dblclick({ timeout: 5000 }).catch(() => undefined);
      await ok.waitFor({ timeout: 5000 }).catch(() => undefined);
    }
    await ok.waitFor();
  }

  /** The topmost edit tray (config node dialogs stack on top of the node's). */
  tray(): Locator {
    return this.page.locator('.red-ui-tray').last();
  }

  trayButton(selector: string): Locator {
    return this.tray().locator(selector);
  }

  /** Presses Done / Add / Update in the topmost tray and waits for that tray to go. */
  async confirmTray(): Promise<void> {
    await this.closeTray('.red-ui-tray-toolbar button.primary');
  }

  /** Presses Cancel in the topmost tray and waits for that tray to go. */
  async cancelTray(): Promise<void> {
    await this.closeTray('.red-ui-tray-toolbar button:not(.primary):not(.leftButton)');
  }

  private async closeTray(buttonSelector: string): Promise<void> {
    const tray = await this.tray().elementHandle();
    if (!tray) throw new Error('no edit dialog open');
    await this.tray().locator(buttonSelector).first().click();
    // Node-RED removes a closed tray from the DOM (a stacked one below it is re-attached).
    await tray.waitForElementState('hidden');
    await tray.dispose();
  }

  /** Draws a wire from the output port of one node to the input port of another, with the mouse. */
  async wire(fromId: string, toId: string): Promise<void> {
    const from = await this.node(fromId).locator('.red-ui-flow-port-output').first().boundingBox();
    const to = await this.node(toId).locator('.red-ui-flow-port-input').first().boundingBox();
    if (!from || !to) throw new Error('ports not visible');
    await this.page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await this.page.mouse.down();
    await this.page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 10 });
    await this.page.mouse.up();
  }

  /** Clicks Deploy and waits until the editor reports the flows deployed. */
  async deploy(): Promise<void> {
    await this.page.locator('#red-ui-header-button-deploy').click();
    await this.page.locator('#red-ui-header-button-deploy.disabled').waitFor();
  }

  /** Text of a node's status label in the workspace. */
  status(id: string): Locator {
    return this.node(id).locator('.red-ui-flow-node-status-label');
  }

  /** Shows the debug sidebar tab, unless it is showing (in Node-RED 5 a second click hides it). */
  async showDebugSidebar(): Promise<void> {
    if (await this.page.locator('#red-ui-sidebar-debug-clear').isVisible()) return;
    // Node-RED 4: a tab link button; Node-RED 5: a button in the sidebar's tab bar.
    await this.page.locator('#red-ui-tab-debug-link-button').or(this.page.locator('button[data-tab-id="debug"]')).first().click();
    await this.page.locator('#red-ui-sidebar-debug-clear').waitFor();
  }

  /** Empties the debug sidebar (its "clear all" button). */
  async clearDebug(): Promise<void> {
    await this.page.locator('#red-ui-sidebar-debug-clear').click();
    await this.page.locator('.red-ui-debug-msg').first().waitFor({ state: 'detached' });
  }

  /** Debug sidebar messages containing `text`. */
  debugMessage(text: string): Locator {
    return this.page.locator('.red-ui-debug-msg', { hasText: text });
  }
}
