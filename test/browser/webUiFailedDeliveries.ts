/**
 * Checks in a real browser that the Temporal Web UI finds Herald's dead letters with the
 * filter the README gives, and keeps a screenshot in docs/. Drives the Chromium the portal's tests
 * use (test/support/browser.ts); run with `npm run check:web-ui`.
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

const screenshot = path.resolve('docs/web-ui-failed-deliveries.png');

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-ui-'));
const uiPort = await freePort();
const config = loadConfig({
  ...process.env, PORT: '0', HERALD_HOST: '127.0.0.1', HERALD_DATA_DIR: dataDir, LOG_LEVEL: 'warn',
  HERALD_DEV_SERVER_PORT: String(await freePort()), HERALD_UI_PORT: String(uiPort), HERALD_TEMPORAL_METRICS_PORT: '0',
});
const [herald, receiver] = await Promise.all([startHerald('all', config, createLogger(config.logLevel)), Receiver.start()]);
const api = async (method: string, route: string, body?: unknown) => {
  const response = await fetch(`${herald.apiUrl}${route}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return response.json();
};
const browser = await launchBrowser();
try {
  await api('POST', '/v1/endpoints', { url: receiver.script('/crm', { status: 200 }), eventTypes: ['*'], retryPolicy: 'none' });
  const erp = await api('POST', '/v1/endpoints', { url: receiver.script('/erp', { status: 503, body: 'maintenance' }), eventTypes: ['invoice.*', 'order.*'], retryPolicy: 'none' });
  for (const [id, type] of [['ord-1001', 'order.submitted'], ['inv-2001', 'invoice.paid'], ['inv-2002', 'invoice.overdue'], ['bk-3001', 'booking.created']]) {
    await api('POST', '/v1/events', { id, type, data: { id } });
  }
  await eventually(() => api('GET', '/v1/deliveries?status=failed'), (r) => r.data.length === 3);

  const page = await browser.newPage({ viewport: { width: 1440, height: 720 }, locale: 'en-US' });
  const query = encodeURIComponent(`HeraldFailedEndpoints = "${erp.id}"`);
  const rows = page.locator('tr', { hasText: 'event:default:' });
  // The workflows mark their dead letters a moment after the attempts are logged: reload until listed.
  await eventually(async () => {
    await page.goto(`http://localhost:${uiPort}/namespaces/default/workflows?query=${query}`);
    await rows.first().waitFor({ timeout: 10_000 }).catch(() => undefined);
    return rows.count();
  }, (count) => count === 3, 60_000, 1_000);
  for (const id of ['ord-1001', 'inv-2001', 'inv-2002']) assert.equal(await rows.filter({ hasText: id }).count(), 1, id);
  await page.screenshot({ path: screenshot });
  console.log(`web UI lists the 3 events with a dead letter for ${decodeURIComponent(query)}; screenshot: ${path.relative(process.cwd(), screenshot)}`);
} finally {
  await browser.close();
  await receiver.close();
  await herald.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
