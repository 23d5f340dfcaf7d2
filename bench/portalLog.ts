/**
 * `node --import tsx bench/portalLog.ts`: the portal's message log over an attempt log of 100,000
 * deliveries (ROWS) to ENDPOINTS endpoints (20), on embedded PGlite (the default). Times the first page and
 * each filter through the API with a portal session's token (p50/p95 over REQUESTS calls each), and an
 * endpoint's stats with their series for each window, then opens the log in Chromium and reads its own
 * clock: DOM interactive, and the first row of deliveries shown.
 * No Temporal is needed: the log's routes read Herald's database only. BENCHMARKS.md has the figures.
 */
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../src/api/app.ts';
import { loadConfig } from '../src/config.ts';
import { EndpointStore } from '../src/endpoints/store.ts';
import { EventCatalog } from '../src/eventCatalog.ts';
import { createLogger } from '../src/logger.ts';
import { createMetrics } from '../src/metrics/index.ts';
import { PortalSessionStore } from '../src/portal/sessions.ts';
import { openDb } from '../src/storage/db.ts';
import { DeliveryLog } from '../src/storage/deliveryLog.ts';
import { AuditLog } from '../src/storage/auditLog.ts';
import { EventTypeStore } from '../src/storage/eventTypes.ts';
import { TenantDeletions } from '../src/storage/tenantDeletions.ts';
import { TenantStore } from '../src/storage/tenants.ts';
import { HeraldTemporal } from '../src/temporal/heraldTemporal.ts';
import { launchBrowser } from '../ops/browser.ts';
import { percentile, round } from './stats.ts';

const ROWS = Number(process.env.ROWS ?? 100_000);
const REQUESTS = Number(process.env.REQUESTS ?? 100);
const ENDPOINTS = Number(process.env.ENDPOINTS ?? 20);
const KEY = 'bench-admin-key';

const db = await openDb({ dataDir: 'memory://' });
const started = Date.now();
// ENDPOINTS endpoints, 5 event types, statuses mixed, a week of history; one attempt row per delivery.
await db.query(`INSERT INTO deliveries (id, tenant, event_id, endpoint_id, event_type, status, attempts, last_status_code, created_at, updated_at)
  SELECT 'delivery:bench:evt-' || i || ':ep_' || (i % $2::int), 'bench', 'evt-' || i, 'ep_' || (i % $2::int), 'order.' || (ARRAY['created','paid','shipped','cancelled','refunded'])[1 + i % 5],
    (ARRAY['delivered','delivered','delivered','failed','retrying'])[1 + i % 5], 1, CASE WHEN i % 5 = 3 THEN 500 ELSE 200 END,
    now() - (i * interval '6 seconds'), now() - (i * interval '6 seconds')
  FROM generate_series(1, $1::int) AS i`, [ROWS, ENDPOINTS]);
await db.query(`INSERT INTO delivery_attempts (delivery_id, attempt, budget, started_at, duration_ms, status_code)
  SELECT 'delivery:bench:evt-' || i || ':ep_' || (i % $2::int), 1, 'b0', now() - (i * interval '6 seconds'), 20 + i % 200, CASE WHEN i % 5 = 3 THEN 500 ELSE 200 END
  FROM generate_series(1, $1::int) AS i`, [ROWS, ENDPOINTS]);
// The one endpoint whose stats are read: the stats route needs it to exist (the log's routes read deliveries alone).
await db.query(`INSERT INTO endpoints (id, tenant, url, event_types, secret, retry_policy, timeout_ms, format, signature, headers, enabled)
  VALUES ('ep_0', 'bench', 'https://receiver.example/hook', '["*"]', 'whsec_bench', '"standard"', 15000, 'standard', '{"scheme":"standard-webhooks"}', '{}', true)`);
console.log(`${ROWS} deliveries and attempts written in ${Date.now() - started} ms`);

const app = createApp({
  temporal: new HeraldTemporal(new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) }), { taskQueue: 'herald', deadLetterRetentionMs: 86_400_000 }),
  db, endpoints: new EndpointStore(db), log: new DeliveryLog(db), audit: new AuditLog(db), tenants: new TenantStore(db), deletions: new TenantDeletions(db), portalSessions: new PortalSessionStore(db),
  publicUrl: undefined, temporalWebUi: { url: 'http://localhost:8233', namespace: 'default' },
  catalog: new EventCatalog(new EventTypeStore(db), { strict: false }), apiKey: KEY, checkHostHeader: false, quotas: loadConfig({}).quotas,
  logger: createLogger('silent'), metrics: createMetrics(), destinations: { allowPrivateTargets: true, requireHttps: false },
  maxBodyBytes: 1_048_576, payloadKeys: [], codecCorsOrigins: [],
});
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = `http://localhost:${(server.address() as AddressInfo).port}`;
const call = async (path: string, init: RequestInit = {}) => {
  const response = await fetch(`${base}${path}`, init);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
};
const link = await call('/v1/portal/sessions', {
  method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ tenant: 'bench', capabilities: ['view'] }),
});
const { token } = await call('/v1/portal/exchange', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: new URL(link.url).hash.slice(6) }) });

const since = new Date(Date.now() - 86_400_000).toISOString();
const cases: [string, string][] = [
  ['first page', ''], ['status=failed', 'status=failed'], ['eventType', 'eventType=order.paid'], ['endpointId', 'endpointId=ep_7'],
  ['eventId', 'eventId=evt-54321'], ['since 24 h', `since=${encodeURIComponent(since)}`], ['all four', `status=failed&eventType=order.paid&endpointId=ep_3&since=${encodeURIComponent(since)}`],
];
console.log('| request (limit 25) | p50 | p95 |\n|---|---|---|');
for (const [name, filter] of cases) {
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const at = performance.now();
    await call(`/v1/deliveries?limit=25${filter ? `&${filter}` : ''}`, { headers: { authorization: `Bearer ${token}` } });
    times.push(performance.now() - at);
  }
  times.sort((a, b) => a - b);
  console.log(`| ${name} | ${round(percentile(times, 50))} ms | ${round(percentile(times, 95))} ms |`);
}

// The endpoint page's chart: one endpoint's attempts over each window, in buckets.
const charted = 'ep_0';
console.log(`\n| GET /v1/endpoints/${charted}/stats (${Math.ceil(ROWS / ENDPOINTS)} of the deliveries) | p50 | p95 |\n|---|---|---|`);
for (const window of ['1h', '24h', '7d']) {
  for (const series of [false, true]) {
    const times: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const at = performance.now();
      await call(`/v1/endpoints/${charted}/stats?tenant=bench&window=${window}&series=${series}`, { headers: { authorization: `Bearer ${KEY}` } });
      times.push(performance.now() - at);
    }
    times.sort((a, b) => a - b);
    console.log(`| window=${window}${series ? '&series=true' : ''} | ${round(percentile(times, 50))} ms | ${round(percentile(times, 95))} ms |`);
  }
}

const browser = await launchBrowser();
try {
  for (const visit of ['first (bundle built)', 'second']) {
    const page = await browser.newPage({ locale: 'en-US' });
    const pageLink = await call('/v1/portal/sessions', {
      method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ tenant: 'bench', capabilities: ['view'] }),
    });
    const url = new URL(pageLink.url);
    url.searchParams.set('next', '/log');
    await page.goto(url.href);
    await page.locator('tbody tr').first().waitFor({ timeout: 30_000 });
    const timing = await page.evaluate(() => {
      const [navigation] = performance.getEntriesByType('navigation') as PerformanceNavigationTiming[];
      return { domInteractive: navigation!.domInteractive, firstRows: performance.now() };
    });
    console.log(`Chromium, ${visit} load: DOM interactive ${round(timing.domInteractive)} ms, deliveries shown ${round(timing.firstRows)} ms after navigation start`);
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
  await db.close();
}
