import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const bookingCreated = {
  name: 'booking.created',
  description: 'A paid order created appointments',
  schema: {
    type: 'object',
    required: ['order_id', 'total_cad', 'items'],
    properties: {
      order_id: { type: 'string' },
      total_cad: { type: 'number' },
      items: { type: 'array', minItems: 1, items: { type: 'object', required: ['appointment_id'] } },
    },
  },
};

const { herald, receiver, stop } = await startHeraldWithReceiver({ HERALD_STRICT_EVENT_TYPES: 'true' });
after(stop);

describe('event catalog in strict mode', () => {
  test('a declared type is listed, read back, and cannot be declared twice', async () => {
    const created = await herald.api('POST', '/v1/event-types', bookingCreated);
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), '/v1/event-types/booking.created');
    assert.deepEqual({ ...created.body, createdAt: undefined, updatedAt: undefined }, { ...bookingCreated, tenant: 'default', createdAt: undefined, updatedAt: undefined });
    assert.equal((await herald.api('POST', '/v1/event-types', bookingCreated)).status, 409);
    assert.deepEqual((await herald.api('GET', '/v1/event-types/booking.created')).body, created.body);
    assert.deepEqual((await herald.api('GET', '/v1/event-types')).body, { data: [created.body], nextCursor: null });
  });

  test('an unusable schema is a 400 naming schema', async () => {
    const bad = await herald.api('POST', '/v1/event-types', { name: 'booking.broken', schema: { type: 'nonsense' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.deepEqual(bad.body.errors.map((e: { field: string }) => e.field), ['schema']);
  });

  test('ingest of a declared type checks data against its schema; a failure names each path', async () => {
    const bad = await herald.api('POST', '/v1/events', { type: 'booking.created', data: { order_id: 7, items: [{}] } });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.deepEqual(bad.body.errors.map((e: { field: string }) => e.field).sort(), ['data.items.0.appointment_id', 'data.order_id', 'data.total_cad']);

    await herald.api('POST', '/v1/endpoints', { url: receiver.script('/bookings'), eventTypes: ['booking.*'] });
    const good = await herald.api('POST', '/v1/events', { type: 'booking.created', data: { order_id: 'o-1', total_cad: 80, items: [{ appointment_id: 'a-1' }] } });
    assert.equal(good.status, 202);
    const [request] = await receiver.waitFor('/bookings', 1);
    assert.equal(JSON.parse(request!.body).data.order_id, 'o-1');
  });

  test('a redeclared schema applies to the next event', async () => {
    const schema = { ...bookingCreated.schema, required: [...bookingCreated.schema.required, 'currency'] };
    const replaced = await herald.api('PUT', '/v1/event-types/booking.created', { description: bookingCreated.description, schema });
    assert.equal(replaced.status, 200);
    const bad = await herald.api('POST', '/v1/events', { type: 'booking.created', data: { order_id: 'o-2', total_cad: 80, items: [{ appointment_id: 'a-2' }] } });
    assert.deepEqual(bad.body.errors, [{ field: 'data.currency', message: "must have required property 'currency'" }]);
  });

  test('strict mode refuses undeclared types, per tenant, naming type', async () => {
    const undeclared = await herald.api('POST', '/v1/events', { type: 'booking.cancelled', data: {} });
    assert.equal(undeclared.status, 400);
    assert.deepEqual(undeclared.body.errors, [{ field: 'type', message: '"booking.cancelled" is not a declared event type' }]);
    const otherTenant = await herald.api('POST', '/v1/events', { type: 'booking.created', data: {}, tenant: 'elsewhere' });
    assert.deepEqual(otherTenant.body.errors.map((e: { field: string }) => e.field), ['type']);
    assert.equal((await herald.api('PUT', '/v1/event-types/booking.cancelled', { tenant: 'elsewhere' })).status, 201);
    assert.equal((await herald.api('POST', '/v1/events', { type: 'booking.cancelled', data: { any: 'thing' }, tenant: 'elsewhere' })).status, 202);
  });

  test('a tenant pattern that backtracks exponentially neither stalls its own ingest nor anyone else\'s request', async () => {
    const hostile = { name: 'signup.hostile', schema: { type: 'object', properties: { code: { type: 'string', pattern: '^(a+)+$' } } } };
    assert.equal((await herald.api('POST', '/v1/event-types', { ...hostile, tenant: 'attacker' })).status, 201);
    // 40 characters: about 12 days of V8's backtracking engine, at 670 ms for 28 and doubling per character.
    const started = performance.now();
    const [ingest, health] = await Promise.all([
      herald.api('POST', '/v1/events', { type: 'signup.hostile', tenant: 'attacker', data: { code: `${'a'.repeat(40)}!` } }),
      herald.api('GET', '/healthz'),
    ]);
    const elapsedMs = performance.now() - started;
    assert.deepEqual([ingest.status, ingest.body.errors.map((e: { field: string }) => e.field)], [400, ['data.code']]);
    assert.equal(health.status, 200);
    console.log(`hostile pattern: ingest refused and /healthz answered in ${elapsedMs.toFixed(0)} ms`);
    const lookahead = await herald.api('POST', '/v1/event-types', { name: 'signup.lookahead', tenant: 'attacker', schema: { type: 'string', pattern: '^(?=a)' } });
    assert.deepEqual([lookahead.status, lookahead.body.errors.map((e: { field: string }) => e.field)], [400, ['schema']]);
  });

  test('a deleted type is undeclared again', async () => {
    assert.equal((await herald.api('DELETE', '/v1/event-types/booking.created')).status, 204);
    assert.equal((await herald.api('DELETE', '/v1/event-types/booking.created')).status, 404);
    assert.equal((await herald.api('POST', '/v1/events', { type: 'booking.created', data: {} })).status, 400);
  });
});
