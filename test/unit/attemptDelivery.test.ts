import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { deliver } from '../../activities/deliver.ts';
import { compileRetryPolicy, type RetryPolicy } from '../../src/delivery/retryPolicy.ts';
import { createTrafficControl, defaultTrafficSettings, endpointHealth } from '../../src/endpoints/trafficControl.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics/index.ts';
import { generateSecret } from '../../src/signing/index.ts';
import type { Db } from '../../src/storage/db.ts';
import { DeliveryLog } from '../../src/storage/deliveryLog.ts';
import { EndpointStore, type NewEndpoint } from '../../src/endpoints/store.ts';
import { deliveryFailureTypes } from '../../workflows/contract.ts';
import { sandbox, SandboxUnavailable } from '../../src/sandbox/index.ts';
import { Receiver } from '../support/receiver.ts';
import { openTestMemoryDb } from '../support/suiteSetup.ts';

/** The attempt activity run outside a worker (no Temporal behaviour is claimed), against a real receiver. */
describe('one delivery attempt', () => {
  let db: Db;
  let store: EndpointStore;
  let log: DeliveryLog;
  let receiver: Receiver;
  before(async () => {
    [db, receiver] = await Promise.all([openTestMemoryDb(), Receiver.start()]);
    store = new EndpointStore(db);
    log = new DeliveryLog(db);
  });
  after(async () => {
    await db?.close();
    await receiver?.close();
  });

  const endpoint = (tenant: string, url: string, headers: Record<string, string> = {}): NewEndpoint => ({
    tenant, url, description: '', eventTypes: ['*'], retryPolicy: 'standard', timeoutMs: 2_000, format: 'standard',
    signature: { scheme: 'standard-webhooks' }, headers, enabled: true, secret: generateSecret(),
  });
  // Nothing here reaches Temporal: these events carry their data, and no endpoint is failing long enough to raise an operational event.
  const noTemporal = { eventOf: async () => undefined, ingest: async () => 'accepted' as const, signal: async () => 'signalled' as const };
  /** One attempt, as the worker runs it for an activity scheduled just now with a schedule-to-close timeout of `timeLimitMs`. */
  const attempt = (tenant: string, endpointId: string, options: { eventId?: string; data?: unknown; retryPolicy?: RetryPolicy; timeLimitMs?: number } = {}) => {
    const { eventId = `evt-${tenant}`, data = {}, retryPolicy = 'standard', timeLimitMs = 7 * 86_400_000 } = options;
    const now = Date.now();
    return new MockActivityEnvironment({ scheduledTimestampMs: now, currentAttemptScheduledTimestampMs: now, scheduleToCloseTimeoutMs: timeLimitMs }).run(deliver, {
      endpoints: store, log, temporal: noTemporal, logger: createLogger('silent'), metrics: createMetrics().delivery,
      traffic: createTrafficControl({ db, endpoints: store, logger: createLogger('silent'), settings: defaultTrafficSettings }),
    }, {
      event: { tenant, id: eventId, type: 'order.submitted', occurredAt: new Date().toISOString(), data },
      eventWorkflowId: `event:${tenant}:${eventId}`,
      subscription: { endpointId, schedule: compileRetryPolicy(retryPolicy).schedule, timeoutMs: 2_000, host: '127.0.0.1' },
      budget: 'b1',
    });
  };
  const failedForGood = (pattern: RegExp) => (err: unknown) =>
    err instanceof ApplicationFailure && err.type === deliveryFailureTypes.failed && err.nonRetryable && pattern.test(err.message);

  test('an event of one tenant never reaches an endpoint of another, whatever id it carries', async () => {
    const { id } = await store.create(endpoint('acme', receiver.script('/acme')));
    await assert.rejects(attempt('globex', id), failedForGood(/endpoint was deleted/));
    assert.deepEqual(receiver.received('/acme'), []);
    assert.equal(((await attempt('acme', id)) as { statusCode: number }).statusCode, 200);
  });

  test('a stored header value undici cannot send fails the delivery at once instead of retrying it as a connection error', async () => {
    // Written before header values were checked at create.
    const { id } = await store.create(endpoint('acme', receiver.script('/bad-header'), { 'X-Token': 'line\nbreak' }));
    await assert.rejects(attempt('acme', id), failedForGood(/cannot be sent/));
    assert.deepEqual(receiver.received('/bad-header'), []);
  });

  test("a transform that fails on an event fails its delivery for good, and is not the receiver's failure: the endpoint's health is untouched", async () => {
    const created = await store.create({ ...endpoint('acme', receiver.script('/uppercase')), transform: { body: '{ "name": $uppercase(event.data.name) }' } });
    await assert.rejects(attempt('acme', created.id, { eventId: 'evt-number', data: { name: 42 } }), failedForGood(/^attempt 1: transform failed: transform\.body: /));
    const delivery = await log.get('acme', `delivery:acme:evt-number:${created.id}`);
    assert.deepEqual([delivery?.status, delivery?.attempts.length], ['failed', 1]);
    const health = await endpointHealth(db, created);
    assert.deepEqual([health.state, health.consecutiveFailures, health.lastFailureAt], ['healthy', 0, null], JSON.stringify(health));
    assert.deepEqual(receiver.received('/uppercase'), []);
  });

  test("a hold that would outlast the activity's time limit ends the delivery for good, and the attempt log says so", async () => {
    const { id } = await store.create({ ...endpoint('acme', receiver.script('/hourly')), rateLimit: { perSecond: 1 / 3600, burst: 1 } });
    assert.equal(((await attempt('acme', id, { eventId: 'evt-first' })) as { statusCode: number }).statusCode, 200);
    await assert.rejects(attempt('acme', id, { eventId: 'evt-second', timeLimitMs: 60_000 }), failedForGood(/held \(rate-limited\) past the delivery's time limit/));
    const delivery = await log.get('acme', `delivery:acme:evt-second:${id}`);
    assert.equal(delivery?.status, 'failed');
    assert.match(delivery?.attempts[0]?.error ?? '', /held \(rate-limited\) past the delivery's time limit/);
    assert.equal(receiver.received('/hourly').length, 1);
  });

  test("a retry whose wait would outlast the activity's time limit is not scheduled: the delivery fails for good", async () => {
    const { id } = await store.create(endpoint('acme', receiver.script('/later', { status: 503 })));
    await assert.rejects(attempt('acme', id, { eventId: 'evt-later', retryPolicy: { schedule: ['1h'] }, timeLimitMs: 60_000 }), failedForGood(/HTTP 503; .*time limit/));
    assert.equal((await log.get('acme', `delivery:acme:evt-later:${id}`))?.status, 'failed');
  });

  // Last: it closes this process's sandbox.
  test('a transform no sandbox thread can run is retried (Herald\'s fault, gone on a later try), not failed for good: no attempt is recorded', async () => {
    const created = await store.create({ ...endpoint('acme', receiver.script('/sandbox-down')), transform: { body: '{ "id": event.id }' } });
    await sandbox.close();
    await assert.rejects(attempt('acme', created.id, { eventId: 'evt-sandbox-down' }), (err: unknown) => err instanceof SandboxUnavailable);
    assert.equal((await log.get('acme', `delivery:acme:evt-sandbox-down:${created.id}`))?.attempts.length ?? 0, 0);
    assert.deepEqual(receiver.received('/sandbox-down'), []);
  });
});
