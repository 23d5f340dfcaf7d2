import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../../ops/browser.ts';
import { startTestHerald, type TestHerald } from './herald.ts';
import { keepPicture } from './pictures.ts';
import { Receiver } from './receiver.ts';

/** Every capability a portal session can have. */
export const everyCapability = ['view', 'manageEndpoints', 'viewSecrets', 'rotateSecrets', 'replay', 'testSend', 'manageTransforms'];
const screenshots = path.resolve(import.meta.dirname, '../../docs/portal');
const axeSource = fs.readFileSync(path.resolve(import.meta.dirname, '../../node_modules/axe-core/axe.min.js'), 'utf8');

/**
 * The portal's browser tests' bench: a real Herald (with an admin key, private targets allowed), a real
 * receiver and Chromium; links issued through the API, pages opened in contexts of their own, pictures
 * kept in docs/portal/ and axe-core's verdict on a page.
 */
export interface PortalInBrowser {
  herald: TestHerald;
  receiver: Receiver;
  browser: Browser;
  admin(method: string, route: string, body?: unknown): ReturnType<TestHerald['api']>;
  link(tenant: string, body?: Record<string, unknown>): Promise<string>;
  open(url: string, options?: { viewport?: { width: number; height: number }; acceptDialogs?: boolean }): Promise<OpenedPage>;
  heading(page: Page, name: string): Promise<void>;
  shoot(page: Page, name: string): Promise<void>;
  assertAccessible(page: Page, what: string): Promise<void>;
  stop(): Promise<void>;
}

export interface OpenedPage { page: Page; context: Awaited<ReturnType<Browser['newContext']>>; dialogs: string[]; requests: string[] }

export async function startPortalInBrowser(adminKey: string, env: Record<string, string> = {}): Promise<PortalInBrowser> {
  const [herald, receiver, browser] = await Promise.all([
    startTestHerald({ HERALD_API_KEY: adminKey, HERALD_ALLOW_PRIVATE_TARGETS: 'true', ...env }), Receiver.start(), launchBrowser(),
  ]);
  fs.mkdirSync(screenshots, { recursive: true });
  const admin = (method: string, route: string, body?: unknown) => herald.api(method, route, body, { authorization: `Bearer ${adminKey}` });
  return {
    herald, receiver, browser, admin,

    /** A link for `tenant` issued through the API, with every capability unless `body` says otherwise. */
    async link(tenant, body = {}) {
      const issued = await admin('POST', '/v1/portal/sessions', { tenant, capabilities: everyCapability, ...body });
      assert.equal(issued.status, 201, JSON.stringify(issued.body));
      return issued.body.url;
    },

    /** A fresh browser context (its own session storage) on `url`; its dialogs (dismissed unless accepted) and requests are recorded. */
    async open(url, { viewport = { width: 1280, height: 800 }, acceptDialogs = false } = {}) {
      // A locale of its own: uPlot reads navigator.language, which this machine's C locale makes "en-US@posix", no BCP 47 tag.
      const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'UTC' });
      const page = await context.newPage();
      const dialogs: string[] = [];
      const requests: string[] = [];
      page.on('dialog', (dialog) => { dialogs.push(dialog.message()); void (acceptDialogs ? dialog.accept() : dialog.dismiss()); });
      page.on('request', (request) => requests.push(request.url()));
      await page.goto(url);
      return { page, context, dialogs, requests };
    },

    heading: (page, name) => page.getByRole('heading', { name, exact: true }).first().waitFor({ timeout: 15_000 }),

    /** The page's picture in docs/portal/, rewritten only when it shows a change (test/support/pictures.ts). */
    async shoot(page, name) {
      const { differingShare, written } = keepPicture(path.join(screenshots, `${name}.png`), await page.screenshot({ fullPage: true }));
      console.log(`docs/portal/${name}.png: ${differingShare === null ? 'new or resized' : `${(differingShare * 100).toFixed(2)} % of pixels differ`}, ${written ? 'rewritten' : 'kept'}`);
    },

    /** axe-core on the page as it is: no serious or critical violation. */
    async assertAccessible(page, what) {
      // Evaluated through the DevTools protocol: the page's CSP (rightly) refuses an injected inline script.
      await page.evaluate(axeSource);
      const violations = await page.evaluate(async () => {
        const result = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe.run();
        return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
      });
      assert.deepEqual(violations, [], what);
    },

    async stop() {
      await browser.close();
      await receiver.close();
      await herald.stop();
    },
  };
}
