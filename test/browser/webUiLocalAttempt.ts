/**
 * Checks in a real browser that the Temporal Web UI shows a delivery whose first attempt ran as a
 * local activity (HERALD_FIRST_ATTEMPT_LOCAL): the event's history lists the attempt, with its
 * summary, and keeps a screenshot in docs/. Run with `npm run check:web-ui`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { startHerald } from '../../src/herald.ts';
import { createLogger } from '../../src/logger.ts';
import { launchBrowser } from '../../ops/browser.ts';
import { eventually } from '../support/eventually.ts';
import { freePort } from '../support/ports.ts';
import { Receiver } from '../support/receiver.ts';

const screenshot = path.resolve('docs/web-ui-local-attempt.png');

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-ui-'));
const uiPort = await freePort();
const config = loadConfig({
  ...process.env, PORT: '0', HERALD_HOST: '127.0.0.1', HERALD_DATA_DIR: dataDir, LOG_LEVEL: 'warn', HERALD_FIRST_ATTEMPT_LOCAL: 'true',
  HERALD_DEV_SERVER_PORT: String(await freePort()), HERALD_UI_PORT: String(uiPort), HERALD_TEMPORAL_METRICS_PORT: '0',
});
const [herald, receiver] = await Promise.all([startHerald('all', config, createLogger(config.logLevel)), Receiver.start()]);
const api = async (method: string, route: string, body?: unknown) => {
  const response = await fetch(`${herald.apiUrl}${route}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return response.json();
};
const browser = await launchBrowser();
try {
  await api('POST', '/v1/endpoints', { url: receiver.script('/crm', { status: 200 }), eventTypes: ['*'] });
  await api('POST', '/v1/events', { id: 'ord-1001', type: 'order.submitted', data: { id: 'ord-1001' } });
  await eventually(() => api('GET', '/v1/deliveries?status=delivered'), (r) => r.data.length === 1);

  const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const row = page.locator('tr', { hasText: 'Local Activity' }).filter({ hasText: /order\.submitted → 127\.0\.0\.1/ });
  // The workflow closes a moment after the attempt is logged: reload until its history lists the attempt.
  await eventually(async () => {
    await page.goto(`http://localhost:${uiPort}/namespaces/default/workflows/${encodeURIComponent('event:default:ord-1001')}`);
    await page.getByText('Event History').first().click();
    return row.first().waitFor({ timeout: 10_000 }).then(() => row.count(), () => 0);
  }, (count) => count === 1, 60_000, 1_000);
  assert.match(await row.innerText(), /deliver/, 'the row names the activity type');
  await row.scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot });
  console.log(`web UI lists the local first attempt with its summary: ${(await row.innerText()).replace(/\s+/g, ' ')}; screenshot: ${path.relative(process.cwd(), screenshot)}`);
} finally {
  await browser.close();
  await receiver.close();
  await herald.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
