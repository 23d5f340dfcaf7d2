/**
 * The Temporal Web UI as the README shows it, checked in a real browser against the dev server's UI: Herald's
 * dead letters found with the README's filter, and a first attempt run as a local activity listed with its
 * summary. Keeps both pictures in docs/ (rewritten only on a visible change, test/support/pictures.ts).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchBrowser } from '../../ops/browser.ts';
import { eventually } from '../support/eventually.ts';
import { startHeraldWithReceiver, type TestHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import { keepPicture } from '../support/pictures.ts';
import { freePort } from '../support/ports.ts';

let browser: Browser;
before(async () => (browser = await launchBrowser()));
after(() => browser.close());

/** A Herald whose dev server serves the Web UI, with `env`; stopped after `check`. */
async function withWebUi(env: Record<string, string>, check: (pair: TestHeraldWithReceiver, uiUrl: string, page: Page) => Promise<void>) {
  const uiPort = await freePort();
  const pair = await startHeraldWithReceiver({ HERALD_UI_PORT: String(uiPort), ...env }, { webUi: true });
  const page = await browser.newPage({ viewport: { width: 1440, height: 720 }, locale: 'en-US' });
  try {
    await check(pair, `http://localhost:${uiPort}/namespaces/default`, page);
  } finally {
    await page.close();
    await pair.stop();
  }
}

/** Reloads `url` until `rows` counts `expected`: the workflows mark what they did a moment after the attempt is logged. */
async function reloadUntilListed(page: Page, url: string, rows: Locator, expected: number, open?: () => Promise<void>) {
  await eventually(async () => {
    await page.goto(url);
    await open?.();
    await rows.first().waitFor({ timeout: 10_000 }).catch(() => undefined);
    return rows.count();
  }, (count) => count === expected, 60_000, 1_000);
}

describe('the Temporal Web UI', () => {
  test("lists the events holding a dead letter for an endpoint with the README's filter", async () => {
    await withWebUi({}, async ({ herald, createEndpoint }, uiUrl, page) => {
      await createEndpoint({ path: '/crm', eventTypes: ['*'], retryPolicy: 'none' });
      const erp = await createEndpoint({ path: '/erp', replies: [{ status: 503, body: 'maintenance' }], eventTypes: ['invoice.*', 'order.*'], retryPolicy: 'none' });
      for (const [id, type] of [['ord-1001', 'order.submitted'], ['inv-2001', 'invoice.paid'], ['inv-2002', 'invoice.overdue'], ['bk-3001', 'booking.created']]) {
        assert.equal((await herald.api('POST', '/v1/events', { id, type, data: { id } })).status, 202);
      }
      await eventually(() => herald.api('GET', '/v1/deliveries?status=failed'), (r) => r.body.data.length === 3);

      const rows = page.locator('tr', { hasText: 'event:default:' });
      await reloadUntilListed(page, `${uiUrl}/workflows?query=${encodeURIComponent(`HeraldFailedEndpoints = "${erp.id}"`)}`, rows, 3);
      for (const id of ['ord-1001', 'inv-2001', 'inv-2002']) assert.equal(await rows.filter({ hasText: id }).count(), 1, id);
      keepPicture(path.resolve('docs/web-ui-failed-deliveries.png'), await page.screenshot());
    });
  });

  test('shows a first attempt run as a local activity (HERALD_FIRST_ATTEMPT_LOCAL) in the history, with its summary', async () => {
    await withWebUi({ HERALD_FIRST_ATTEMPT_LOCAL: 'true' }, async ({ herald, createEndpoint }, uiUrl, page) => {
      await createEndpoint({ path: '/crm', eventTypes: ['*'] });
      assert.equal((await herald.api('POST', '/v1/events', { id: 'ord-1001', type: 'order.submitted', data: { id: 'ord-1001' } })).status, 202);
      await eventually(() => herald.api('GET', '/v1/deliveries?status=delivered'), (r) => r.body.data.length === 1);

      const row = page.locator('tr', { hasText: 'Local Activity' }).filter({ hasText: /order\.submitted → 127\.0\.0\.1/ });
      await reloadUntilListed(page, `${uiUrl}/workflows/${encodeURIComponent('event:default:ord-1001')}`, row, 1,
        () => page.getByText('Event History').first().click());
      assert.match(await row.innerText(), /deliver/, 'the row names the activity type');
      await row.scrollIntoViewIfNeeded();
      keepPicture(path.resolve('docs/web-ui-local-attempt.png'), await page.screenshot());
    });
  });
});
