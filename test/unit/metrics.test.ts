import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { createMetrics } from '../../src/metrics/index.ts';
import { parseExposition, sampleValue } from '../support/prometheus.ts';

test('each retryable attempt is counted under the reason it failed', async () => {
  const { registry, delivery } = createMetrics();
  const attempt = { eventType: 'order.submitted', durationMs: 120 };
  delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: 503 });
  delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: 500 });
  delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: 429 });
  delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: 408 });
  delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: null, networkFailure: 'timeout' });
  delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: null, networkFailure: 'connection' });
  delivery.recordAttempt({ ...attempt, verdict: 'failed', statusCode: 410 });
  const samples = parseExposition(await registry.metrics());

  const retries = Object.fromEntries(samples.filter((s) => s.name === 'webhook_retries_total').map((s) => [s.labels.reason, s.value]));
  assert.deepEqual(retries, { http_5xx: 2, http_429: 1, http_408: 1, timeout: 1, connection: 1 });
  assert.equal(sampleValue(samples, 'webhook_deliveries_total', { event: 'order.submitted', status: 'retry' }), 6);
  assert.equal(sampleValue(samples, 'webhook_deliveries_total', { event: 'order.submitted', status: 'failed' }), 1);
  assert.equal(sampleValue(samples, 'webhook_delivery_http_status', { code: '410' }), 1);
  assert.equal(sampleValue(samples, 'webhook_delivery_duration_seconds_bucket', { le: '0.25' }), 7);
  assert.equal(sampleValue(samples, 'webhook_delivery_duration_seconds_bucket', { le: '0.1' }), 0);
});

test('attempts without an HTTP answer add no status code', async () => {
  const { registry, delivery } = createMetrics();
  delivery.recordAttempt({ eventType: 'booking.created', durationMs: 5000, verdict: 'retry', statusCode: null, networkFailure: 'timeout' });
  const samples = parseExposition(await registry.metrics());
  assert.equal(samples.filter((s) => s.name === 'webhook_delivery_http_status').length, 0);
});

test('the sample alert rules cover failure and retry rates with metrics Herald exports', () => {
  const alerts = parse(fs.readFileSync(new URL('../../docs/prometheus-alerts.yml', import.meta.url), 'utf8'));
  const rules: { alert: string; expr: string; labels: { severity: string }; annotations: { summary: string } }[] =
    alerts.groups.flatMap((group: { rules: unknown[] }) => group.rules);
  const exported = new Set(createMetrics().registry.getMetricsAsArray().map((metric) => metric.name));
  for (const rule of rules) {
    assert.ok(rule.labels.severity && rule.annotations.summary, `${rule.alert} has a severity and a summary`);
    for (const name of rule.expr.match(/\b(webhook|herald)_\w+/g) ?? []) {
      assert.ok(exported.has(name.replace(/_(bucket|count|sum)$/, '')), `${rule.alert} uses ${name}, which Herald does not export`);
    }
  }
  const alertNames = rules.map((rule) => rule.alert);
  assert.ok(alertNames.includes('HeraldDeliveryFailureRateHigh'));
  assert.ok(alertNames.includes('HeraldRetryRateHigh'));
});
