import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const ADMIN_KEY = 'admin-key-for-the-all-tenant-endpoints-test';
/** One more than HERALD_CIRCUIT_FAILURES (10): enough to open a circuit that counted them. */
const HOSTILE_EVENTS = 11;

const { herald, receiver, stop } = await startHeraldWithReceiver({ HERALD_API_KEY: ADMIN_KEY, HERALD_ALLOW_PRIVATE_TARGETS: 'true' });
after(stop);

/**
 * An all-tenant endpoint belongs to the operator: every tenant's events reach it, and no tenant may
 * break it, read what its receiver answers, or see what it holds.
 */
describe('an all-tenant endpoint among hostile tenants', () => {
  const as = (key: string) => (method: string, route: string, body?: unknown) => herald.api(method, route, body, { authorization: `Bearer ${key}` });
  const admin = as(ADMIN_KEY);
  let evil: ReturnType<typeof as>;
  let good: ReturnType<typeof as>;
  let endpointId: string;
  const evilDelivery = (i: number) => `delivery:evil:evil-${i}:${endpointId}`;

  before(async () => {
    const keyOf = async (tenant: string) => {
      assert.equal((await admin('POST', '/v1/tenants', { id: tenant })).status, 201);
      return (await admin('POST', `/v1/tenants/${tenant}/keys`, { name: 'tests' })).body.key as string;
    };
    evil = as(await keyOf('evil'));
    good = as(await keyOf('good'));
    const created = await admin('POST', '/v1/endpoints', {
      url: receiver.script('/operator', { status: 200, headers: { location: '/internal/orders/1' }, body: 'operator receiver internals' }),
      eventTypes: ['customer.*'], allTenants: true, retryPolicy: 'none',
      headers: { Authorization: 'Bearer RECEIVER-TOKEN-xyz' },
      transform: { body: '{ "name": $uppercase(event.data.name), "tenant": event.tenant }' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    endpointId = created.body.id;
  });

  test("a tenant whose events the transform cannot take fails only its own deliveries: the endpoint's health and circuit are untouched", async () => {
    for (let i = 0; i < HOSTILE_EVENTS; i++) {
      assert.equal((await evil('POST', '/v1/events', { id: `evil-${i}`, type: 'customer.created', data: { name: 42 } })).status, 202);
    }
    for (let i = 0; i < HOSTILE_EVENTS; i++) {
      const failed = await eventually(() => admin('GET', `/v1/deliveries/${evilDelivery(i)}`), (r) => r.body?.status === 'failed', 60_000, 100);
      assert.equal(failed.body.attempts.length, 1, 'final: the transform fails the same way every time');
      assert.match(failed.body.attempts[0].error, /^transform failed: transform\.body: /);
    }
    const { health } = (await admin('GET', `/v1/endpoints/${endpointId}`)).body;
    assert.deepEqual([health.state, health.consecutiveFailures, health.lastFailureAt], ['healthy', 0, null], JSON.stringify(health));

    // Another tenant's next event goes straight through.
    assert.equal((await good('POST', '/v1/events', { id: 'good-1', type: 'customer.created', data: { name: 'ada' } })).status, 202);
    const [request] = await receiver.waitFor('/operator', 1, 20_000);
    assert.deepEqual(JSON.parse(request!.body), { name: 'ADA', tenant: 'good' });
    assert.equal(request!.headers.authorization, 'Bearer RECEIVER-TOKEN-xyz');
    await eventually(() => admin('GET', `/v1/deliveries/delivery:good:good-1:${endpointId}`), (r) => r.body?.status === 'delivered', 20_000);
  });

  test("tenants see their deliveries' status, never the operator's receiver's answers or errors", async () => {
    const goodId = `delivery:good:good-1:${endpointId}`;
    const asOperator = (await admin('GET', `/v1/deliveries/${goodId}`)).body;
    assert.equal(asOperator.attempts[0].responseExcerpt, 'operator receiver internals');
    assert.deepEqual(asOperator.attempts[0].responseHeaders, { location: '/internal/orders/1' });
    assert.equal(asOperator.attempts[0].request.headers.authorization, '********');

    const asGood = await good('GET', `/v1/deliveries/${goodId}`);
    assert.equal(asGood.status, 200);
    assert.equal(asGood.body.status, 'delivered');
    const [seen] = asGood.body.attempts;
    assert.deepEqual([seen.responseExcerpt, seen.responseHeaders, seen.error, seen.request], [null, null, null, null], 'nor the request: its URL and headers are the operator\'s');

    const asEvil = await evil('GET', `/v1/deliveries/${evilDelivery(0)}`);
    assert.equal(asEvil.body.status, 'failed');
    assert.deepEqual([asEvil.body.lastError, asEvil.body.attempts[0].error], [null, null]);
    const listed = await evil('GET', `/v1/deliveries?endpointId=${endpointId}`);
    assert.equal(listed.body.data.length, HOSTILE_EVENTS);
    assert.ok(listed.body.data.every((d: { status: string; lastError: string | null }) => d.status === 'failed' && d.lastError === null));
    const event = await evil('GET', '/v1/events/evil-0');
    assert.deepEqual(event.body.deliveries.map((d: { status: string; lastError: string | null }) => [d.status, d.lastError]), [['failed', null]]);
    assert.ok(!JSON.stringify([asGood.body, asEvil.body, listed.body, event.body]).includes('transform'), 'nothing of the operator\'s transform either');
  });

  test('a preview masks static header values as reading the endpoint does', async () => {
    const preview = await admin('POST', `/v1/endpoints/${endpointId}/preview`, { event: { type: 'customer.created', data: { name: 'ada' } } });
    assert.equal(preview.status, 200, JSON.stringify(preview.body));
    assert.equal(preview.body.headers.authorization, '********');
    assert.ok(!JSON.stringify(preview.body).includes('RECEIVER-TOKEN'));
  });

  test("the admin replays and recovers every tenant's dead letters of the endpoint; a tenant may not replay into it", async () => {
    const recovered = await admin('POST', `/v1/endpoints/${endpointId}/recover`, { since: new Date(Date.now() - 3_600_000).toISOString() });
    assert.equal(recovered.status, 202, JSON.stringify(recovered.body));
    assert.deepEqual([...recovered.body.replayed].sort(), Array.from({ length: HOSTILE_EVENTS }, (_, i) => evilDelivery(i)).sort());
    for (let i = 0; i < HOSTILE_EVENTS; i++) {
      await eventually(() => admin('GET', `/v1/deliveries/${evilDelivery(i)}`), (r) => r.body?.status === 'failed' && r.body.attempts.length === 2, 60_000);
    }

    const refused = await evil('POST', `/v1/deliveries/${evilDelivery(0)}/replay`);
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    const replayed = await admin('POST', `/v1/deliveries/${evilDelivery(0)}/replay`);
    assert.equal(replayed.status, 202, JSON.stringify(replayed.body));
    await eventually(() => admin('GET', `/v1/deliveries/${evilDelivery(0)}`), (r) => r.body?.status === 'failed' && r.body.attempts.length === 3, 60_000);
  });
});
