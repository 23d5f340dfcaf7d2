import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import { parseExposition, sampleValue } from '../support/prometheus.ts';
import { evaluate, type Series } from '../support/promql.ts';

const { herald, receiver, stop } = await startHeraldWithReceiver();
after(stop);

describe('Prometheus metrics of a real delivery', () => {
  test('a delivery that fails once with a 500 and then succeeds: attempts per attempt, the delivery once, at GET /metrics', async () => {
    assert.equal((await herald.api('POST', '/v1/event-types', { name: 'invoice.paid' })).status, 201);
    const endpoint = await herald.api('POST', '/v1/endpoints', {
      url: receiver.script('/flaky', { status: 500 }, { status: 200 }),
      eventTypes: ['invoice.paid'],
      retryPolicy: { schedule: ['1s'] },
    });
    assert.equal(endpoint.status, 201);
    const ingest = await herald.api('POST', '/v1/events', { id: 'inv-1', type: 'invoice.paid', data: { amount: 10 } });
    assert.equal(ingest.status, 202);
    // The event workflow completes only after its delivering attempt has been recorded.
    await herald.client.workflow.getHandle(ingest.body.workflowId).result();

    const response = await fetch(`${herald.apiUrl}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(await response.text());
    const value = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels);

    const labels = { event: 'invoice.paid', tenant_id: 'default' };
    assert.equal(value('webhook_delivery_attempts_total', { ...labels, result: 'retry' }), 1);
    assert.equal(value('webhook_delivery_attempts_total', { ...labels, result: 'delivered' }), 1);
    assert.equal(value('webhook_deliveries_total', { ...labels, status: 'delivered' }), 1);
    assert.equal(value('webhook_deliveries_total', { ...labels, status: 'failed' }), undefined);
    assert.equal(value('webhook_retries_total', { ...labels, reason: 'server_error' }), 1);
    assert.equal(value('webhook_delivery_http_status', { event: 'invoice.paid', status_code: '500' }), 1);
    assert.equal(value('webhook_delivery_http_status', { event: 'invoice.paid', status_code: '200' }), 1);
    assert.equal(value('webhook_delivery_duration_seconds_count', labels), 2);
    assert.equal(value('herald_http_requests_total', { route: '/v1/events', method: 'POST', status: '202' }), 1);
    assert.equal(value('herald_http_requests_total', { route: '/v1/endpoints', method: 'POST', status: '201' }), 1);
    assert.equal(value('herald_http_request_duration_seconds_count', { route: '/v1/events', method: 'POST' }), 1);
    assert.ok(value('process_cpu_user_seconds_total')! > 0, 'default process metrics are exported');
  });

  test(
    "a receiver outage that exhausts a delivery gives the ERP document's failure-rate alert a non-zero value",
    async () => {
      assert.equal((await herald.api('POST', '/v1/event-types', { name: 'invoice.created' })).status, 201);
      const before = parseExposition(await (await fetch(`${herald.apiUrl}/metrics`)).text());
      const endpoint = await herald.api('POST', '/v1/endpoints', {
        url: receiver.script('/erp-down', { status: 503 }), eventTypes: ['invoice.created'], tenant: 'acme',
        retryPolicy: { schedule: ['1s', '1s'] },
      });
      assert.equal(endpoint.status, 201);
      const ingest = await herald.api('POST', '/v1/events', { id: 'inv-outage', type: 'invoice.created', tenant: 'acme', data: { invoice_id: 'inv-outage' } });
      assert.equal(ingest.status, 202);
      await receiver.waitFor('/erp-down', 3);
      const deliveryId = `delivery:acme:inv-outage:${endpoint.body.id}`;
      await eventually(() => herald.api('GET', `/v1/deliveries/${deliveryId}?tenant=acme`), (r) => r.body?.status === 'failed', 30_000, 200);
      const now = parseExposition(await (await fetch(`${herald.apiUrl}/metrics`)).text());
      const scrapes = { now, before, seconds: 300 };
      const alert = '(webhook_deliveries_total{status="failed"} / webhook_deliveries_total{status=~"delivered|failed"}) > 0.1';
      const firing = evaluate(alert, scrapes) as Series[];
      assert.deepEqual(firing.map((s) => [s.labels.event, s.labels.tenant_id]), [['invoice.created', 'acme']]);
      const share = 'sum by (event, tenant_id) (rate(webhook_deliveries_total{status="failed"}[15m])) / sum by (event, tenant_id) (rate(webhook_deliveries_total[15m]))';
      assert.ok((evaluate(share, scrapes) as Series[]).every((s) => s.value > 0));
    },
  );

  test('requests that match no route are counted without their raw path', async () => {
    await herald.api('GET', '/v1/nothing-here/ep_secret-looking-id');
    const samples = parseExposition(await (await fetch(`${herald.apiUrl}/metrics`)).text());
    assert.ok(sampleValue(samples, 'herald_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' })! >= 1);
    assert.ok(!samples.some((s) => s.labels.route?.includes('nothing-here')));
  });

  // Runs after the delivery above, so the worker has executed activities by now.
  test("the Temporal SDK's worker metrics, activity latencies included, are served by the worker process", async () => {
    const response = await fetch(herald.temporalMetricsUrl);
    assert.equal(response.status, 200);
    const names = new Set(parseExposition(await response.text()).map((s) => s.name));
    assert.ok([...names].some((name) => name.startsWith('temporal_worker_task_slots_available')), [...names].join(' '));
    assert.ok([...names].some((name) => name.startsWith('temporal_activity_execution_latency')), [...names].join(' '));
  });
});
