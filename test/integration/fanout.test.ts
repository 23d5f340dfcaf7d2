import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';

const ENDPOINTS = 2_100;
const DATA_BYTES = 1024 * 1024;

let herald: TestHerald;
let server: http.Server;
/** Per path: requests received and whether each body carried the whole event. Bodies are not kept (2 GiB). */
const received = new Map<string, { requests: number; whole: boolean; webhookIds: Set<string> }>();

before(async () => {
  server = http.createServer((req, res) => {
    let size = 0;
    req.on('data', (chunk: Buffer) => (size += chunk.length));
    req.on('end', () => {
      const seen = received.get(req.url!) ?? { requests: 0, whole: true, webhookIds: new Set() };
      received.set(req.url!, { requests: seen.requests + 1, whole: seen.whole && size > DATA_BYTES, webhookIds: seen.webhookIds.add(String(req.headers['webhook-id'])) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Room for a 1 MiB event and its envelope in one request.
  herald = await startTestHerald({ HERALD_MAX_BODY_BYTES: String(2 * DATA_BYTES), HERALD_MAX_ENDPOINTS_PER_TENANT: String(ENDPOINTS) });
});
after(async () => {
  await herald?.stop();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

test(`a 1 MiB event to ${ENDPOINTS} endpoints reaches every one, in part workflows that stay inside Temporal's limits`, async () => {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tenant = 'fanout';
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let i = next++; i < ENDPOINTS; i = next++) {
      // In one process, with embedded PGlite on the same thread, a burst of 2,100 one-MiB attempts can outlast an
      // attempt's 15 s deadline, and those are retried as any timeout is. The standard policy's second retry comes
      // 5 minutes later, which this test then spent waiting: a schedule of the same length in short steps instead.
      const retryPolicy = { schedule: ['5s', '10s', '20s', '30s', '30s', '60s', '60s'] };
      const created = await herald.api('POST', '/v1/endpoints', { url: `${url}/ep-${i}`, eventTypes: ['catalog.published'], tenant, retryPolicy });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
  }));
  const data = { sku: 'S-1', description: 'x'.repeat(DATA_BYTES) };
  const accepted = await herald.api('POST', '/v1/events', { id: 'big-1', type: 'catalog.published', tenant, data });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));

  const started = Date.now();
  await eventually(async () => received.size, (n) => n === ENDPOINTS, 600_000, 500);
  const repeats = [...received.values()].reduce((sum, seen) => sum + seen.requests - 1, 0);
  console.log(`fan-out: a 1 MiB event reached ${ENDPOINTS} endpoints in ${Date.now() - started} ms (${repeats} repeated requests, at least once)`);
  for (const [path, seen] of received) assert.ok(seen.whole, `${path} got a partial body`);
  // One webhook-id per event, the same at every endpoint.
  assert.equal(new Set([...received.values()].flatMap((s) => [...s.webhookIds])).size, 1);

  const root = herald.client.workflow.getHandle(accepted.body.workflowId);
  await root.result();
  const rootHistory = await root.fetchHistory();
  const parts = rootHistory.events!.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes).length;
  assert.equal(parts, Math.ceil(ENDPOINTS / 50));
  // Only the event workflow's own input holds the data; its parts and their activities carry a reference.
  const size = (history: unknown) => JSON.stringify(history).length;
  assert.ok(size(rootHistory) < 3 * DATA_BYTES * 4 / 3, `event workflow history ${size(rootHistory)} chars`);
  const partHistory = await herald.client.workflow.getHandle(`${accepted.body.workflowId}/1`).fetchHistory();
  assert.ok(size(partHistory) < DATA_BYTES / 4, `part history ${size(partHistory)} chars`);

  const listed = await eventually(() => herald.api('GET', `/v1/deliveries?tenant=${tenant}&status=delivered&limit=1000`), (r) => r.body.data.length === 1000);
  assert.equal(listed.body.data.length, 1000);
  assert.ok(listed.body.nextCursor);
});
