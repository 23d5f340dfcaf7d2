import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { deliveryIdsOf } from '../support/herald.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const MAX_ENDPOINTS = 2;
const REPLAYS_PER_MINUTE = 3;

const { herald, receiver, stop } = await startHeraldWithReceiver({ HERALD_MAX_ENDPOINTS_PER_TENANT: String(MAX_ENDPOINTS), HERALD_MAX_REPLAYS_PER_MINUTE: String(REPLAYS_PER_MINUTE) });
after(stop);

describe('tenant quotas', () => {
  test('a tenant at its endpoint limit gets a 409 naming HERALD_MAX_ENDPOINTS_PER_TENANT; another tenant does not', async () => {
    for (let i = 0; i < MAX_ENDPOINTS; i++) {
      assert.equal((await herald.api('POST', '/v1/endpoints', { url: receiver.script(`/many-${i}`), tenant: 'many' })).status, 201);
    }
    const refused = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/many-more'), tenant: 'many' });
    assert.equal(refused.status, 409);
    assert.match(refused.headers.get('content-type')!, /^application\/problem\+json/);
    assert.match(refused.body.detail, /has 2 endpoints, the most HERALD_MAX_ENDPOINTS_PER_TENANT allows/);
    assert.equal(refused.body.errors[0].field, 'tenant');
    assert.equal((await herald.api('POST', '/v1/endpoints', { url: receiver.script('/few'), tenant: 'few' })).status, 201);
  });

  test('a schedule of immediate retries is refused at create and at PATCH, naming each wait and the limit', async () => {
    const burst = { schedule: Array<string>(10).fill('0ms') };
    const refused = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/burst'), tenant: 'burst', retryPolicy: burst });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body.errors.map((e: { field: string }) => e.field), burst.schedule.map((_, i) => `retryPolicy.schedule.${i}`));
    assert.match(refused.body.errors[0].message, /HERALD_MIN_RETRY_DELAY/);
    const created = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/burst'), tenant: 'burst' });
    const patched = await herald.api('PATCH', `/v1/endpoints/${created.body.id}?tenant=burst`, { retryPolicy: { initialInterval: '0ms', maximumAttempts: 100 } });
    assert.equal(patched.status, 400);
    assert.deepEqual(patched.body.errors.map((e: { field: string }) => e.field), ['retryPolicy.initialInterval', 'retryPolicy.maximumAttempts']);
  });

  test('replays beyond HERALD_MAX_REPLAYS_PER_MINUTE get a 429 with Retry-After, and so does recover', async () => {
    const since = new Date().toISOString();
    const endpoint = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/replayed', { status: 500 }), tenant: 'replays', retryPolicy: 'none' });
    const accepted = await herald.api('POST', '/v1/events', { id: 'replay-1', type: 'order.submitted', tenant: 'replays' });
    assert.equal(accepted.status, 202);
    const deliveryIds = await deliveryIdsOf(herald, 'replays', 'replay-1');
    const replay = () => herald.api('POST', `/v1/deliveries/${deliveryIds[0]}/replay`);
    for (let i = 0; i < REPLAYS_PER_MINUTE; i++) assert.equal((await replay()).status, 202);
    const refused = await replay();
    assert.equal(refused.status, 429);
    assert.match(refused.body.detail, /may replay 3 deliveries a minute \(HERALD_MAX_REPLAYS_PER_MINUTE\)/);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    const recover = await herald.api('POST', `/v1/endpoints/${endpoint.body.id}/recover`, { since, tenant: 'replays' });
    assert.equal(recover.status, 429);
    assert.equal((await herald.api('POST', '/v1/deliveries/delivery:default:none:ep_none/replay')).status, 404, 'other tenants keep their allowance');
  });

  test('a body over HERALD_MAX_BODY_BYTES is a 413 naming the setting', async () => {
    const tooLarge = await herald.api('POST', '/v1/events', { type: 'order.submitted', data: { padding: 'x'.repeat(1_048_576) } });
    assert.equal(tooLarge.status, 413);
    assert.match(tooLarge.body.detail, /HERALD_MAX_BODY_BYTES/);
  });
});
