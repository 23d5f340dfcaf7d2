import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { deliveryIdsOf } from '../support/herald.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const ADMIN_KEY = 'admin-key-for-the-tenants-test';

const { herald, receiver, stop } = await startHeraldWithReceiver({ HERALD_API_KEY: ADMIN_KEY, HERALD_ALLOW_PRIVATE_TARGETS: 'true' });
after(stop);

describe('tenants and tenant-scoped API keys', () => {
  /** Requests as the holder of `key`. */
  const as = (key: string) => (method: string, route: string, body?: unknown) =>
    herald.api(method, route, body, { authorization: `Bearer ${key}` });
  const admin = as(ADMIN_KEY);


  /** Creates a tenant and issues it a key; answers the key. */
  async function tenantWithKey(id: string): Promise<string> {
    assert.equal((await admin('POST', '/v1/tenants', { id, name: `Tenant ${id}` })).status, 201);
    const issued = await admin('POST', `/v1/tenants/${id}/keys`, { name: 'tests' });
    assert.equal(issued.status, 201);
    return issued.body.key;
  }

  test('the admin key manages tenants and keys; a key is shown once and works until revoked', async () => {
    const created = await admin('POST', '/v1/tenants', { id: 'acme', name: 'Acme' });
    assert.equal(created.status, 201);
    assert.deepEqual({ ...created.body, createdAt: undefined }, { id: 'acme', name: 'Acme', payloadRetention: null, createdAt: undefined });
    const duplicate = await admin('POST', '/v1/tenants', { id: 'acme' });
    assert.equal(duplicate.status, 409);
    assert.deepEqual(duplicate.body.errors, [{ field: 'id', message: 'already exists' }]);
    // 64 at most: with a 128-character event id, its workflow ids still fit Temporal's SQL visibility store (255).
    const tooLong = await admin('POST', '/v1/tenants', { id: 'a'.repeat(65) });
    assert.equal(tooLong.status, 400);
    assert.deepEqual(tooLong.body.errors.map((e: { field: string }) => e.field), ['id']);
    const listed = await admin('GET', '/v1/tenants');
    assert.deepEqual(listed.body.data.map((t: { id: string }) => t.id).filter((id: string) => ['acme', 'default'].includes(id)), ['acme', 'default']);

    const issued = await admin('POST', '/v1/tenants/acme/keys', { name: 'order form' });
    assert.equal(issued.status, 201);
    assert.match(issued.body.key, /^hk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(issued.body.prefix, `hk_${issued.body.id}`);
    assert.ok(issued.body.key.startsWith(`${issued.body.prefix}_`));
    const keys = await admin('GET', '/v1/tenants/acme/keys');
    assert.deepEqual(keys.body.data, [{ id: issued.body.id, tenant: 'acme', name: 'order form', prefix: issued.body.prefix, createdAt: issued.body.createdAt }]);
    assert.equal(JSON.stringify(keys.body).includes(issued.body.key), false);
    assert.equal((await admin('POST', '/v1/tenants/nobody/keys', {})).status, 404);

    const acme = as(issued.body.key);
    assert.equal((await acme('GET', '/v1/endpoints')).status, 200);
    const forbidden = await acme('GET', '/v1/tenants');
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal((await acme('POST', '/v1/tenants/acme/keys', {})).status, 403);

    // A key with one character changed, no key, and the admin key mistyped are all refused.
    const tampered = issued.body.key.slice(0, -1) + (issued.body.key.endsWith('A') ? 'B' : 'A');
    assert.equal((await as(tampered)('GET', '/v1/endpoints')).status, 401);
    assert.equal((await herald.api('GET', '/v1/endpoints')).status, 401);
    assert.equal((await as(`${ADMIN_KEY}x`)('GET', '/v1/endpoints')).status, 401);

    assert.equal((await admin('DELETE', `/v1/tenants/acme/keys/${issued.body.id}`)).status, 204);
    const revoked = await acme('GET', '/v1/endpoints');
    assert.equal(revoked.status, 401);
    assert.equal(revoked.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await admin('DELETE', `/v1/tenants/acme/keys/${issued.body.id}`)).status, 404);
  });

  test('a tenant key cannot reach another tenant\'s endpoints or deliveries, by name or by id', async () => {
    const alpha = as(await tenantWithKey('alpha'));
    const beta = as(await tenantWithKey('beta'));
    const betaEndpoint = await beta('POST', '/v1/endpoints', { url: receiver.script('/beta-own'), description: 'beta' });
    assert.equal(betaEndpoint.status, 201);
    assert.equal(betaEndpoint.body.tenant, 'beta');
    const alphaEndpoint = await alpha('POST', '/v1/endpoints', { url: receiver.script('/alpha-own'), tenant: 'alpha' });
    assert.equal(alphaEndpoint.body.tenant, 'alpha');

    assert.deepEqual((await alpha('GET', '/v1/endpoints')).body.data.map((e: { id: string }) => e.id), [alphaEndpoint.body.id]);
    const id = betaEndpoint.body.id;
    for (const [method, route, body] of [
      ['GET', `/v1/endpoints/${id}`],
      ['PATCH', `/v1/endpoints/${id}`, { url: receiver.script('/stolen') }],
      ['POST', `/v1/endpoints/${id}/rotate-secret`, {}],
      ['POST', `/v1/endpoints/${id}/test`],
      ['DELETE', `/v1/endpoints/${id}`],
    ] as const) {
      assert.equal((await alpha(method, route, body)).status, 404, `${method} ${route}`);
    }
    for (const [method, route, body] of [
      ['GET', '/v1/endpoints?tenant=beta'],
      ['GET', `/v1/endpoints/${id}?tenant=beta`],
      ['DELETE', `/v1/endpoints/${id}?tenant=beta`],
      ['POST', '/v1/endpoints', { url: receiver.script('/planted'), tenant: 'beta' }],
      ['POST', '/v1/events', { type: 'order.submitted', tenant: 'beta' }],
    ] as const) {
      const refused = await alpha(method, route, body);
      assert.equal(refused.status, 403, `${method} ${route}`);
      assert.deepEqual(refused.body.errors.map((e: { field: string }) => e.field), ['tenant']);
    }

    // Beta's endpoint is untouched and nothing was sent to it.
    const { secret: _secret, ...stored } = betaEndpoint.body;
    const { health: _health, ...read } = (await admin('GET', `/v1/endpoints/${id}?tenant=beta`)).body;
    assert.deepEqual(read, stored);
    assert.equal(receiver.received('/stolen').length + receiver.received('/planted').length + receiver.received('/beta-own').length, 0);

    // Beta's deliveries, found by id, are as unknown to alpha as its endpoints.
    const probe = await beta('POST', `/v1/endpoints/${id}/test`);
    assert.equal(probe.body.status, 'delivered');
    assert.equal((await beta('GET', `/v1/deliveries/${probe.body.deliveryId}`)).status, 200);
    assert.equal((await admin('GET', `/v1/deliveries/${probe.body.deliveryId}`)).status, 200);
    assert.equal((await alpha('GET', `/v1/deliveries/${probe.body.deliveryId}`)).status, 404);
    assert.equal((await alpha('POST', `/v1/deliveries/${probe.body.deliveryId}/replay`)).status, 404);
    assert.equal((await alpha('POST', `/v1/endpoints/${id}/recover`, { since: new Date(0).toISOString() })).status, 404);
    assert.equal((await alpha('GET', '/v1/deliveries?tenant=beta')).status, 403);
    // A test send is a delivery, not an event (its id, test@…, is no event id): probe with a real one.
    const betaEvent = await beta('POST', '/v1/events', { id: 'beta-order', type: 'order.submitted' });
    assert.equal(betaEvent.status, 202);
    assert.equal((await alpha('GET', `/v1/events/${betaEvent.body.eventId}?tenant=beta`)).status, 403);
    assert.equal((await receiver.waitFor('/beta-own', 2)).length, 2);
  });

  test('a tenant\'s events reach only its own endpoints, and event ids are per tenant', async () => {
    const gamma = as(await tenantWithKey('gamma'));
    const delta = as(await tenantWithKey('delta'));
    const gammaEndpoint = (await gamma('POST', '/v1/endpoints', { url: receiver.script('/gamma'), eventTypes: ['*'] })).body;
    const deltaEndpoint = (await delta('POST', '/v1/endpoints', { url: receiver.script('/delta'), eventTypes: ['*'] })).body;

    // The same event id in both tenants: two events, not a duplicate.
    const fromGamma = await gamma('POST', '/v1/events', { id: 'shared-id', type: 'order.submitted', data: { from: 'gamma' } });
    const fromDelta = await delta('POST', '/v1/events', { id: 'shared-id', type: 'order.submitted', data: { from: 'delta' } });
    assert.deepEqual([fromGamma.status, fromDelta.status], [202, 202]);
    assert.deepEqual([fromGamma.body.workflowId, fromDelta.body.workflowId], ['event:gamma:shared-id', 'event:delta:shared-id']);

    // Each event workflow started exactly one delivery, to its own tenant's endpoint: no other can ever happen.
    assert.deepEqual(await deliveryIdsOf(herald, 'gamma', 'shared-id', { authorization: `Bearer ${ADMIN_KEY}` }), [`delivery:gamma:shared-id:${gammaEndpoint.id}`]);
    assert.deepEqual(await deliveryIdsOf(herald, 'delta', 'shared-id', { authorization: `Bearer ${ADMIN_KEY}` }), [`delivery:delta:shared-id:${deltaEndpoint.id}`]);
    const [gammaRequest] = await receiver.waitFor('/gamma', 1);
    const [deltaRequest] = await receiver.waitFor('/delta', 1);
    assert.deepEqual(JSON.parse(gammaRequest!.body).data, { from: 'gamma' });
    assert.deepEqual(JSON.parse(deltaRequest!.body).data, { from: 'delta' });
  });
});
