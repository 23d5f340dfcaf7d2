import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const { herald, receiver, stop } = await startHeraldWithReceiver();
after(stop);

describe('ingest to delivery on the embedded Temporal dev server', () => {
  test('an ingested event reaches a subscribed receiver as a Standard Webhooks request that verifies', async () => {
    const created = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/orders'), eventTypes: ['order.*'] });
    assert.equal(created.status, 201);
    assert.match(created.body.secret, /^whsec_/);

    const ingest = await herald.api('POST', '/v1/events', { id: 'ord-1001', type: 'order.submitted', data: { total: 42, currency: 'EUR' } });
    assert.equal(ingest.status, 202);
    assert.deepEqual(ingest.body, { eventId: 'ord-1001', workflowId: 'event:default:ord-1001', status: 'accepted' });

    const [request] = await receiver.waitFor('/orders', 1);
    const payload = new Webhook(created.body.secret).verify(request!.body, request!.headers as Record<string, string>);
    assert.deepEqual(payload, { type: 'order.submitted', timestamp: JSON.parse(request!.body).timestamp, data: { total: 42, currency: 'EUR' } });
    assert.equal(request!.headers['content-type'], 'application/json');
    assert.match(request!.headers['user-agent']!, /^Herald\//);
  });

  test('an event sent twice with one id is delivered once', async () => {
    await herald.api('POST', '/v1/endpoints', { url: receiver.script('/dedupe'), eventTypes: ['booking.created'], tenant: 'dedupe' });
    const event = { type: 'booking.created', data: { booking: 7 }, tenant: 'dedupe' };
    const first = await herald.api('POST', '/v1/events', event, { 'idempotency-key': 'bk-7' });
    const second = await herald.api('POST', '/v1/events', { ...event, id: 'bk-7' });
    assert.equal(first.status, 202);
    assert.equal(second.status, 200);
    assert.equal(second.body.status, 'duplicate');
    // A marker event posted after the duplicate: once both real events have arrived, a second
    // delivery of the duplicate would have arrived with them.
    await herald.api('POST', '/v1/events', { ...event, id: 'bk-8', data: { booking: 8 } });
    const requests = await receiver.waitFor('/dedupe', 2);
    assert.deepEqual(requests.map((r) => JSON.parse(r.body).data.booking).sort(), [7, 8]);
    assert.equal(receiver.received('/dedupe').length, 2);
  });

  test('an endpoint receives only the event types it subscribed to', async () => {
    await herald.api('POST', '/v1/endpoints', { url: receiver.script('/ratings'), eventTypes: ['rating.*'], tenant: 'filters' });
    await herald.api('POST', '/v1/events', { type: 'ticket.created', data: { n: 1 }, tenant: 'filters' });
    await herald.api('POST', '/v1/events', { type: 'rating.updated', data: { n: 2 }, tenant: 'filters' });
    const [request] = await receiver.waitFor('/ratings', 1);
    assert.equal(JSON.parse(request!.body).type, 'rating.updated');
  });

  test('invalid input is a 400 problem naming each failing field', async () => {
    const bad = await herald.api('POST', '/v1/events', { id: 'has space', type: '', data: {}, colour: 'red' });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.deepEqual(bad.body.errors.map((e: { field: string }) => e.field).sort(), ['colour', 'id', 'type']);
    // Herald's own operational event types cannot be forged by a producer.
    const forged = await herald.api('POST', '/v1/events', { type: 'herald.endpoint.disabled', data: { endpointId: 'ep_x' } });
    assert.equal(forged.status, 400);
    assert.deepEqual(forged.body.errors.map((e: { field: string }) => e.field), ['type']);
    const malformed = await herald.api('POST', '/v1/events', '{"type": ');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.title, 'Invalid JSON');
  });
});
