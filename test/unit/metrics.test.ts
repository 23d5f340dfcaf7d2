import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { createMetrics, type HeraldMetrics } from '../../src/metrics/index.ts';
import { parseExposition, sampleValue, type Sample } from '../support/prometheus.ts';
import { evaluate, type Series } from '../support/promql.ts';

const scrape = async (metrics: HeraldMetrics) => parseExposition(await metrics.registry.metrics());
const withCatalog = async (...types: string[]) => {
  const metrics = createMetrics();
  await (await metrics.followEventCatalog(async () => types))();
  return metrics;
};
const attempt = { eventType: 'invoice.created', tenant: 'acme', durationMs: 120 };

test('each retryable attempt is counted under the ERP reason it failed for', async () => {
  const metrics = await withCatalog('invoice.created');
  const { delivery } = metrics;
  delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: 503 });
  delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: 500 });
  delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: 429 });
  delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: 408 });
  delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: null, networkFailure: 'timeout' });
  delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: null, networkFailure: 'connection' });
  delivery.recordAttempt({ ...attempt, verdict: 'failed', statusCode: 410 });
  const samples = await scrape(metrics);

  const retries = Object.fromEntries(samples.filter((s) => s.name === 'webhook_retries_total').map((s) => [s.labels.reason, s.value]));
  assert.deepEqual(retries, { server_error: 2, rate_limited: 1, timeout: 2, connection_error: 1 });
  assert.ok(samples.filter((s) => s.name === 'webhook_retries_total').every((s) => s.labels.event === 'invoice.created' && s.labels.tenant_id === 'acme'));
  assert.equal(sampleValue(samples, 'webhook_delivery_attempts_total', { event: 'invoice.created', tenant_id: 'acme', result: 'retry' }), 6);
  assert.equal(sampleValue(samples, 'webhook_delivery_attempts_total', { result: 'failed' }), 1);
  assert.equal(sampleValue(samples, 'webhook_delivery_http_status', { event: 'invoice.created', status_code: '410' }), 1);
  assert.deepEqual(
    samples.filter((s) => s.name === 'webhook_delivery_duration_seconds_bucket').map((s) => s.labels.le),
    ['0.1', '0.5', '1', '2', '5', '10', '+Inf'],
  );
  assert.equal(sampleValue(samples, 'webhook_delivery_duration_seconds_bucket', { le: '0.5', event: 'invoice.created', tenant_id: 'acme' }), 7);
  // Attempts are not deliveries: nothing ended yet.
  assert.equal(samples.filter((s) => s.name === 'webhook_deliveries_total').length, 0);
});

test('attempts without an HTTP answer add no status code', async () => {
  const metrics = await withCatalog('booking.created');
  metrics.delivery.recordAttempt({ ...attempt, eventType: 'booking.created', durationMs: 5000, verdict: 'retry', statusCode: null, networkFailure: 'timeout' });
  assert.equal((await scrape(metrics)).filter((s) => s.name === 'webhook_delivery_http_status').length, 0);
});

test('an event type nobody declared is counted as "other", so random types add no series', async () => {
  const metrics = await withCatalog('invoice.created');
  for (let i = 0; i < 50; i++) {
    metrics.delivery.recordAttempt({ ...attempt, eventType: `random.${i}`, verdict: 'delivered', statusCode: 200 });
    metrics.delivery.recordDeliveryOutcome({ eventType: `random.${i}`, tenant: 'acme', outcome: 'delivered' });
  }
  const events = new Set((await scrape(metrics)).filter((s) => s.name.startsWith('webhook_')).map((s) => s.labels.event));
  assert.deepEqual(events, new Set(['other']));
});

/** Drives an ERP tenant's deliveries: 9 invoices delivered (one after a 503), 1 whose retries ran out against a dead receiver. */
function erpTraffic(metrics: HeraldMetrics, outage = true) {
  const { delivery } = metrics;
  for (let i = 0; i < 9; i++) {
    if (i === 0) delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: 503, durationMs: 300 });
    delivery.recordAttempt({ ...attempt, verdict: 'delivered', statusCode: 200, durationMs: 200 + i * 50 });
    delivery.recordDeliveryOutcome({ eventType: 'invoice.created', tenant: 'acme', outcome: 'delivered' });
  }
  if (!outage) return;
  for (let i = 0; i < 4; i++) delivery.recordAttempt({ ...attempt, verdict: 'retry', statusCode: null, networkFailure: 'connection', durationMs: 2 });
  delivery.recordDeliveryOutcome({ eventType: 'invoice.created', tenant: 'acme', outcome: 'failed' });
}

const vector = (value: Series[] | number) => {
  assert.ok(Array.isArray(value));
  return value;
};

/** The ERP document's queries (docs 001, section 4), verbatim. */
const erpQueries = {
  total: 'webhook_deliveries_total',
  successRate: 'webhook_deliveries_total{status="delivered", event="invoice.created"} / webhook_deliveries_total{event="invoice.created"}',
  retryReasons: 'webhook_retries_total',
  averageTime: 'rate(webhook_delivery_duration_seconds_sum[5m]) / rate(webhook_delivery_duration_seconds_count[5m])',
  failed: 'webhook_deliveries_total{status="failed"}',
};

test("the ERP document's queries and alert over Herald's metrics after an outage that exhausts a delivery", async () => {
  const metrics = await withCatalog('invoice.created');
  const before: Sample[] = await scrape(metrics);
  erpTraffic(metrics);
  const scrapes = { now: await scrape(metrics), before, seconds: 300 };

  assert.deepEqual(vector(evaluate(erpQueries.total, scrapes)).map((s) => [s.labels.status, s.value]).sort(), [['delivered', 9], ['failed', 1]]);
  assert.deepEqual(vector(evaluate(erpQueries.failed, scrapes)).map((s) => [s.labels, s.value]), [
    [{ __name__: 'webhook_deliveries_total', event: 'invoice.created', tenant_id: 'acme', status: 'failed' }, 1],
  ]);
  // Prometheus matches equal label sets, status included: delivered / delivered.
  assert.deepEqual(vector(evaluate(erpQueries.successRate, scrapes)).map((s) => s.value), [1]);
  assert.deepEqual(
    Object.fromEntries(vector(evaluate(erpQueries.retryReasons, scrapes)).map((s) => [s.labels.reason, s.value])),
    { server_error: 1, connection_error: 4 },
  );
  const [average] = vector(evaluate(erpQueries.averageTime, scrapes));
  assert.ok(average!.value > 0.1 && average!.value < 1, `average attempt time ${average!.value}`);

  const rules = alertRules();
  const firing = (name: string) => vector(evaluate(rules.get(name)!.expr, scrapes));
  assert.equal(firing('WebhookDeliveryFailureRate').length, 1, 'the failure-rate alert sees the exhausted delivery');
  assert.ok(firing('WebhookDeliveryFailureRate')[0]!.value > 0.1);
  const share = 'sum by (event, tenant_id) (rate(webhook_deliveries_total{status="failed"}[15m])) / sum by (event, tenant_id) (rate(webhook_deliveries_total[15m]))';
  assert.deepEqual(vector(evaluate(share, scrapes)).map((s) => s.value), [0.1], 'one delivery in ten failed for good');
  assert.equal(firing('WebhookHighRetryCount').length, 0, '5 retries in 5 minutes is no storm');
  assert.equal(firing('WebhookSlowDeliveries').length, 0);
  assert.equal(firing('WebhookNoDeliveries').length, 0);
});

test('without an outage the failure-rate alerts stay silent; slow receivers and silence raise theirs', async () => {
  const metrics = await withCatalog('invoice.created');
  const before = await scrape(metrics);
  erpTraffic(metrics, false);
  const calm = { now: await scrape(metrics), before, seconds: 300 };
  const rules = alertRules();
  assert.deepEqual(vector(evaluate(rules.get('WebhookDeliveryFailureRate')!.expr, calm)), []);
  assert.deepEqual(vector(evaluate(rules.get('HeraldDeliveryFailureShareHigh')!.expr, calm)), []);

  for (let i = 0; i < 20; i++) metrics.delivery.recordAttempt({ ...attempt, verdict: 'delivered', statusCode: 200, durationMs: 8000 });
  const slow = { now: await scrape(metrics), before: calm.now, seconds: 600 };
  assert.ok(vector(evaluate(rules.get('WebhookSlowDeliveries')!.expr, slow))[0]!.value > 5);

  const quiet = { now: slow.now, before: slow.now, seconds: 3600 };
  assert.deepEqual(vector(evaluate(rules.get('WebhookNoDeliveries')!.expr, quiet)).map((s) => s.labels), [{ event: 'invoice.created', tenant_id: 'acme' }]);
});

interface Rule { alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }

/** The alert rules file, checked against Prometheus's rule file format (groups of named rules; alert rules only here). */
function alertRules(): Map<string, Rule> {
  const file = parse(fs.readFileSync(new URL('../../docs/prometheus-alerts.yml', import.meta.url), 'utf8'));
  assert.deepEqual(Object.keys(file), ['groups']);
  const rules = new Map<string, Rule>();
  const groupNames = new Set<string>();
  for (const group of file.groups) {
    assert.ok(typeof group.name === 'string' && !groupNames.has(group.name), 'each group has a unique name');
    groupNames.add(group.name);
    for (const key of Object.keys(group)) assert.ok(['name', 'interval', 'limit', 'rules'].includes(key), `group field ${key}`);
    for (const rule of group.rules as Rule[]) {
      for (const key of Object.keys(rule)) assert.ok(['alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'].includes(key), `${rule.alert}: rule field ${key}`);
      assert.match(rule.alert, /^[a-zA-Z_][a-zA-Z0-9_]*$/);
      assert.equal(typeof rule.expr, 'string');
      if (rule.for !== undefined) assert.match(rule.for, /^(\d+(ms|s|m|h|d|w|y))+$/, `${rule.alert}: for`);
      for (const value of Object.values({ ...rule.labels, ...rule.annotations })) assert.equal(typeof value, 'string');
      assert.ok(rule.labels?.severity && rule.annotations?.summary, `${rule.alert} has a severity and a summary`);
      rules.set(rule.alert, rule);
    }
  }
  return rules;
}

test('every alert and dashboard query parses and names only metrics Herald serves', async () => {
  const metrics = await withCatalog('invoice.created');
  const exported = new Set(metrics.registry.getMetricsAsArray().map((metric) => metric.name));
  const dashboard = JSON.parse(fs.readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8'));
  const dashboardQueries: string[] = dashboard.panels.flatMap((panel: { targets: { expr: string }[] }) => panel.targets.map((t) => t.expr));
  assert.ok(dashboardQueries.length >= 7);
  const queries = [...[...alertRules().values()].map((rule) => rule.expr), ...dashboardQueries, ...Object.values(erpQueries)];
  const before = await scrape(metrics);
  erpTraffic(metrics);
  const scrapes = { now: await scrape(metrics), before, seconds: 300 };
  for (const query of queries) {
    for (const name of query.match(/\b(webhook|herald)_\w+/g) ?? []) {
      assert.ok(exported.has(name.replace(/_(bucket|count|sum)$/, '')), `${query} uses ${name}, which Herald does not serve`);
    }
    // Grafana's variables, as "All" selects them.
    assert.doesNotThrow(() => evaluate(query.replaceAll('$tenant', '.*'), scrapes), query);
  }
});
