import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitForDeliveryStatus } from '../support/herald.ts';
import { startHeraldWithReceiver, type TestHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import { Receiver } from '../support/receiver.ts';

/**
 * End-to-end traces: a producer's W3C traceparent through ingest, the event workflow and each attempt
 * to the receiver, and the spans exported to an OTLP/HTTP collector (a real one on 127.0.0.1, reading
 * the JSON the exporter sends) only when OTEL_EXPORTER_OTLP_ENDPOINT is set.
 */

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PRODUCER_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PRODUCER_SPAN_ID}-01`;
const TRACESTATE = 'producer=t61rcWkgMzE';
const W3C_TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

interface ExportedSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes: { key: string; value: Record<string, unknown> }[] }

const collector = await Receiver.start();
const collectorPath = '/v1/traces';
collector.script(collectorPath, { status: 200, headers: { 'content-type': 'application/json' }, body: '{}' });
after(() => collector.close());

/** Every span the collector received, from every export request. */
const exportedSpans = (): ExportedSpan[] => collector.received(collectorPath).flatMap((request) =>
  JSON.parse(request.body).resourceSpans.flatMap((r: { scopeSpans: { spans: ExportedSpan[] }[] }) => r.scopeSpans.flatMap((s) => s.spans)));

/** A Herald with its receiver whose stop may be called in a test (to flush the exporter) and again after it. */
async function startPair(env: Record<string, string>) {
  const pair = await startHeraldWithReceiver(env);
  let stopped: Promise<void> | undefined;
  return { ...pair, stop: () => (stopped ??= pair.stop()) };
}

/** Posts one event to a new endpoint that answers 500, then 200; answers what the receiver got once it is delivered and the workflow has closed. */
async function deliverTwice(pair: TestHeraldWithReceiver, tenant: string, traceHeaders: Record<string, string>) {
  const path = `/${tenant}`;
  const endpoint = await pair.createEndpoint({ path, tenant, retryPolicy: { schedule: ['1s'] }, replies: [{ status: 500 }, { status: 200 }] });
  const posted = await pair.herald.api('POST', '/v1/events', { tenant, id: 'e1', type: 'order.paid', data: {} }, traceHeaders);
  assert.equal(posted.status, 202, JSON.stringify(posted.body));
  await waitForDeliveryStatus(pair.herald, `delivery:${tenant}:e1:${endpoint.id}`, 'delivered');
  await pair.herald.client.workflow.getHandle(posted.body.workflowId).result();
  const received = pair.receiver.received(path);
  assert.deepEqual(received.map((r) => r.status), [500, 200]);
  return received;
}

describe('with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  let pair: TestHeraldWithReceiver;
  before(async () => {
    pair = await startPair({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
  });
  after(() => pair.stop());

  test('one event posted with a traceparent is one trace: ingest, the workflow, each attempt and the receiver\'s traceparent', async () => {
    const received = await deliverTwice(pair, 'traced', { traceparent: TRACEPARENT, tracestate: TRACESTATE });
    // Stopping flushes what the exporter still holds: no span is lost.
    await pair.stop();
    const spans = exportedSpans();
    assert.deepEqual([...new Set(spans.map((s) => s.traceId))], [TRACE_ID], 'every span Herald exported is in the producer\'s trace');
    const named = (name: string) => spans.filter((s) => s.name === name);
    const [ingest] = named('POST /v1/events');
    assert.equal(ingest?.parentSpanId, PRODUCER_SPAN_ID, 'ingest is a child of the producer\'s span');
    const [start] = named('StartWorkflow:eventWorkflow');
    assert.equal(start?.parentSpanId, ingest.spanId);
    const [workflow] = named('RunWorkflow:eventWorkflow');
    assert.equal(workflow?.parentSpanId, start.spanId);
    const [scheduled] = named('StartActivity:deliver');
    assert.equal(scheduled?.parentSpanId, workflow.spanId);
    const attempts = named('RunActivity:deliver');
    assert.equal(attempts.length, 2, 'each attempt is a span of its own');
    for (const attempt of attempts) assert.equal(attempt.parentSpanId, scheduled.spanId);
    const statusOf = (span: ExportedSpan) => span.attributes.find((a) => a.key === 'http.response.status_code')?.value.intValue;
    assert.deepEqual(attempts.map(statusOf).sort(), [200, 500]);

    // Each request the receiver got names its attempt's span as its parent, in the producer's trace, with its tracestate.
    const parents = received.map((request) => {
      const [, traceId, parentId] = W3C_TRACEPARENT.exec(String(request.headers.traceparent)) ?? [];
      assert.equal(traceId, TRACE_ID);
      assert.equal(request.headers.tracestate, TRACESTATE);
      return parentId;
    });
    assert.deepEqual(parents.sort(), attempts.map((a) => a.spanId).sort());
  });
});

describe('without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  let pair: TestHeraldWithReceiver;
  let exportsBefore: number;
  before(async () => {
    exportsBefore = collector.received(collectorPath).length;
    pair = await startPair({ OTEL_EXPORTER_OTLP_ENDPOINT: '' });
  });
  after(() => pair.stop());

  test('a traceparent that is not W3C Trace Context is ignored, as the specification asks: the event is delivered as one posted without; an oversized tracestate is dropped', async () => {
    for (const [tenant, traceparent] of [['zeros', `00-${'0'.repeat(32)}-${PRODUCER_SPAN_ID}-01`], ['garbled', 'not a traceparent'], ['none', undefined]] as const) {
      const path = `/${tenant}`;
      const endpoint = await pair.createEndpoint({ path, tenant });
      const posted = await pair.herald.api('POST', '/v1/events', { tenant, id: 'e1', type: 'order.paid', data: {} }, traceparent ? { traceparent, tracestate: TRACESTATE } : {});
      assert.equal(posted.status, 202, JSON.stringify(posted.body));
      await waitForDeliveryStatus(pair.herald, `delivery:${tenant}:e1:${endpoint.id}`, 'delivered');
      const [request] = pair.receiver.received(path);
      assert.equal(request?.headers.traceparent, undefined);
      assert.equal(request?.headers.tracestate, undefined);
    }
    // A tracestate is passed on only as the specification bounds it (at most 512 characters of valid entries).
    const endpoint = await pair.createEndpoint({ path: '/long-state', tenant: 'long-state' });
    const posted = await pair.herald.api('POST', '/v1/events', { tenant: 'long-state', id: 'e1', type: 'order.paid', data: {} }, { traceparent: TRACEPARENT, tracestate: `k=${'v'.repeat(600)}` });
    assert.equal(posted.status, 202, JSON.stringify(posted.body));
    await waitForDeliveryStatus(pair.herald, `delivery:long-state:e1:${endpoint.id}`, 'delivered');
    const [request] = pair.receiver.received('/long-state');
    assert.equal(W3C_TRACEPARENT.exec(String(request?.headers.traceparent))?.[1], TRACE_ID);
    assert.equal(request?.headers.tracestate, undefined);
  });

  test('each producer\'s trace still reaches the receiver on every attempt, and nothing is exported, before or at stop', async () => {
    // Two traced events at once in one worker: neither workflow's trace leaks into the other's.
    const otherTraceId = 'a'.repeat(32);
    const [received, receivedOther] = await Promise.all([
      deliverTwice(pair, 'carried', { traceparent: TRACEPARENT, tracestate: TRACESTATE }),
      deliverTwice(pair, 'carried-other', { traceparent: `00-${otherTraceId}-${PRODUCER_SPAN_ID}-01` }),
    ]);
    for (const request of received) {
      assert.equal(W3C_TRACEPARENT.exec(String(request.headers.traceparent))?.[1], TRACE_ID);
      assert.equal(request.headers.tracestate, TRACESTATE);
    }
    for (const request of receivedOther) {
      assert.equal(W3C_TRACEPARENT.exec(String(request.headers.traceparent))?.[1], otherTraceId);
      assert.equal(request.headers.tracestate, undefined);
    }
    await pair.stop();
    assert.equal(collector.received(collectorPath).length, exportsBefore);
  });
});
