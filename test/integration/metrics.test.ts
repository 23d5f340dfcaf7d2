import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseExposition, sampleValue } from '../support/prometheus.ts';
import { Receiver } from '../support/receiver.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';

describe('Prometheus metrics of a real delivery', () => {
  let herald: TestHerald;
  let receiver: Receiver;
  before(async () => {
    [herald, receiver] = await Promise.all([startTestHerald(), Receiver.start()]);
  });
  after(async () => {
    await herald?.stop();
    await receiver?.close();
  });

  test('a delivery that fails once with a 500 and then succeeds is counted per attempt at GET /metrics', async () => {
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

    assert.equal(value('webhook_deliveries_total', { event: 'invoice.paid', status: 'retry' }), 1);
    assert.equal(value('webhook_deliveries_total', { event: 'invoice.paid', status: 'delivered' }), 1);
    assert.equal(value('webhook_deliveries_total', { event: 'invoice.paid', status: 'failed' }), undefined);
    assert.equal(value('webhook_retries_total', { reason: 'http_5xx' }), 1);
    assert.equal(value('webhook_delivery_http_status', { code: '500' }), 1);
    assert.equal(value('webhook_delivery_http_status', { code: '200' }), 1);
    assert.equal(value('webhook_delivery_duration_seconds_count'), 2);
    assert.equal(value('herald_http_requests_total', { route: '/v1/events', method: 'POST', status: '202' }), 1);
    assert.equal(value('herald_http_requests_total', { route: '/v1/endpoints', method: 'POST', status: '201' }), 1);
    assert.equal(value('herald_http_request_duration_seconds_count', { route: '/v1/events', method: 'POST' }), 1);
    assert.ok(value('process_cpu_user_seconds_total')! > 0, 'default process metrics are exported');
  });

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
