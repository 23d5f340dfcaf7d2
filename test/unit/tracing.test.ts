import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import { loadConfig } from '../../src/config.ts';
import { traceContextHeaders } from '../../src/tracing.ts';
import { TRACE_HEADER as WORKFLOW_TRACE_HEADER } from '../../workflows/tracing.ts';

test('the workflow side looks for the header the interceptors carry the trace context in', () => {
  assert.equal(WORKFLOW_TRACE_HEADER, TRACE_HEADER);
});

test('OTEL_EXPORTER_OTLP_ENDPOINT: an http(s) URL turns export on; empty or unset leaves it off; anything else is a configuration error naming it', () => {
  assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing.otlpEndpoint, 'http://collector:4318');
  assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '' }).tracing.otlpEndpoint, undefined);
  assert.equal(loadConfig({}).tracing.otlpEndpoint, undefined);
  for (const wrong of ['collector:4318', 'grpc://collector:4317']) {
    assert.throws(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: wrong }), /OTEL_EXPORTER_OTLP_ENDPOINT: an http\(s\) URL/);
  }
});

test('outside a trace, an outbound request gets no traceparent', () => {
  assert.deepEqual(traceContextHeaders(), {});
});
