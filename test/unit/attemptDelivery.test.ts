import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { attemptDelivery } from '../../activities/attemptDelivery.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics/index.ts';
import { generateSecret } from '../../src/signing/index.ts';
import { openDb, type Db } from '../../src/storage/db.ts';
import { EndpointStore, type NewEndpoint } from '../../src/storage/endpoints.ts';
import type { AttemptOutcome, HeraldEvent } from '../../workflows/types.ts';
import { Receiver } from '../support/receiver.ts';

/** Today's attempt activity run outside a worker (no Temporal behaviour is claimed), against a real receiver. */
describe('one delivery attempt', () => {
  let db: Db;
  let store: EndpointStore;
  let receiver: Receiver;
  before(async () => {
    [db, receiver] = await Promise.all([openDb({ dataDir: 'memory://' }), Receiver.start()]);
    store = new EndpointStore(db);
  });
  after(async () => {
    await db?.close();
    await receiver?.close();
  });

  const endpoint = (tenant: string, url: string, headers: Record<string, string> = {}): NewEndpoint => ({
    tenant, url, description: '', eventTypes: ['*'], retryPolicy: 'standard', timeoutMs: 2_000, format: 'standard',
    signature: { scheme: 'standard-webhooks' }, headers, enabled: true, secret: generateSecret(),
  });
  const event = (tenant: string): HeraldEvent => ({ tenant, id: `evt-${tenant}`, type: 'order.submitted', occurredAt: new Date().toISOString(), data: {} });
  const attempt = (tenant: string, endpointId: string): Promise<AttemptOutcome> =>
    new MockActivityEnvironment().run(attemptDelivery, { endpoints: store, logger: createLogger('silent'), metrics: createMetrics().delivery }, { event: event(tenant), endpointId, attempt: 1 });

  test('an event of one tenant never reaches an endpoint of another, whatever id it carries', async () => {
    const { id } = await store.create(endpoint('acme', receiver.script('/acme')));
    const outcome = await attempt('globex', id);
    assert.equal(outcome.verdict, 'failed');
    assert.deepEqual(receiver.received('/acme'), []);
    assert.equal((await attempt('acme', id)).verdict, 'delivered');
  });

  test('a stored header value undici cannot send fails the delivery at once instead of retrying it as a connection error', async () => {
    // Written before header values were checked at create.
    const { id } = await store.create(endpoint('acme', receiver.script('/bad-header'), { 'X-Token': 'line\nbreak' }));
    const outcome = await attempt('acme', id);
    assert.equal(outcome.verdict, 'failed');
    assert.match(outcome.error ?? '', /cannot be sent/);
    assert.deepEqual(receiver.received('/bad-header'), []);
  });
});
