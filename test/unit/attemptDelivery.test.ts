import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { deliver } from '../../activities/deliver.ts';
import { compileRetryPolicy } from '../../src/delivery/retryPolicy.ts';
import { createTrafficControl, defaultTrafficSettings } from '../../src/delivery/trafficControl.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics/index.ts';
import { generateSecret } from '../../src/signing/index.ts';
import { openDb, type Db } from '../../src/storage/db.ts';
import { DeliveryLog } from '../../src/storage/deliveryLog.ts';
import { EndpointStore, type NewEndpoint } from '../../src/storage/endpoints.ts';
import { deliveryFailureTypes } from '../../workflows/contract.ts';
import { Receiver } from '../support/receiver.ts';

/** The attempt activity run outside a worker (no Temporal behaviour is claimed), against a real receiver. */
describe('one delivery attempt', () => {
  let db: Db;
  let store: EndpointStore;
  let log: DeliveryLog;
  let receiver: Receiver;
  before(async () => {
    [db, receiver] = await Promise.all([openDb({ dataDir: 'memory://' }), Receiver.start()]);
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
  const attempt = (tenant: string, endpointId: string) => new MockActivityEnvironment().run(deliver, {
    endpoints: store, log, temporal: noTemporal, logger: createLogger('silent'), metrics: createMetrics().delivery,
    traffic: createTrafficControl({ db, endpoints: store, log, temporal: noTemporal, logger: createLogger('silent'), settings: defaultTrafficSettings }),
  }, {
    event: { tenant, id: `evt-${tenant}`, type: 'order.submitted', occurredAt: new Date().toISOString(), data: {} },
    eventWorkflowId: `event:${tenant}:evt-${tenant}`,
    subscription: { endpointId, schedule: compileRetryPolicy('standard').schedule, timeoutMs: 2_000, host: '127.0.0.1' },
    budget: 'b1',
  });
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
});
