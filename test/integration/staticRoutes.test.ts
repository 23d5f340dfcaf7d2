import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { deliveryIdsOf } from '../support/herald.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

/** The order form's and the booking app's senders, moved to Herald by renaming their variables. */
const routesFile = `
routes:
  - name: order
    url: \${ORDER_WEBHOOK_URL}
    eventTypes: [order_submitted]
    format: make
    sourceApp: pu_observatory
    signature: shared-secret
    secret: \${WEBHOOK_SECRET}
    retryPolicy: make
  - name: ticket
    url: \${TICKET_URL}
    eventTypes: [ticket.*]
    signature: { scheme: hmac-sha256 }
    secret: ticket-signing-key
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-routes-'));
fs.writeFileSync(path.join(dir, 'routes.yaml'), routesFile);
const { herald, receiver, stop } = await startHeraldWithReceiver((receiver) => ({
  HERALD_ROUTES_FILE: path.join(dir, 'routes.yaml'),
  ORDER_WEBHOOK_URL: receiver.script('/order'),
  WEBHOOK_SECRET: 'make-scenario-secret',
  TICKET_URL: receiver.script('/ticket'),
  HERALD_ROUTE_BOOKING_URL: receiver.script('/booking'),
  HERALD_ROUTE_BOOKING_EVENTS: 'booking.created,booking.rescheduled',
  HERALD_ROUTE_BOOKING_SIGNATURE: 'none',
  HERALD_FALLBACK_URL: receiver.script('/fallback'),
  HERALD_FALLBACK_SIGNATURE: 'none',
}));
after(async () => {
  await stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('static routes from a routes file and HERALD_ROUTE_* variables', () => {
  /** Ingests one event and answers the endpoints its event workflow fanned out to. */
  async function deliveredTo(type: string, data: unknown): Promise<string[]> {
    const accepted = await herald.api('POST', '/v1/events', { type, data });
    assert.equal(accepted.status, 202);
    return (await deliveryIdsOf(herald, 'default', accepted.body.eventId)).map((id) => id.split(':').at(-1)!).sort();
  }

  test('they show in GET /v1/endpoints as read-only, without their secrets', async () => {
    const listed = await herald.api('GET', '/v1/endpoints');
    assert.equal(listed.status, 200);
    const routes = Object.fromEntries(listed.body.data.map((e: any) => [e.id, e]));
    assert.deepEqual(Object.keys(routes).sort(), ['ep_route_booking', 'ep_route_fallback', 'ep_route_order', 'ep_route_ticket']);
    for (const endpoint of Object.values<any>(routes)) {
      assert.equal(endpoint.readOnly, true);
      assert.equal('secret' in endpoint, false);
    }
    assert.deepEqual(routes.ep_route_fallback.staticRoute, { name: 'fallback', fallback: true });
    assert.deepEqual(
      { ...routes.ep_route_order, createdAt: undefined, updatedAt: undefined },
      {
        id: 'ep_route_order', tenant: 'default', url: receiver.script('/order'), description: '', eventTypes: ['order_submitted'],
        retryPolicy: 'make', timeoutMs: 5000, format: 'make', signature: { scheme: 'shared-secret' }, headers: {}, enabled: true,
        sourceApp: 'pu_observatory', transform: null, allTenants: false, rateLimit: null, ordering: null, onFailure: 'block', auth: null, proxy: true, filter: null, channels: null, readOnly: true, staticRoute: { name: 'order', fallback: false }, createdAt: undefined, updatedAt: undefined,
      },
    );
  });

  test('changing one through the API is a 409 conflict that names its route', async () => {
    for (const [method, route, body] of [
      ['PATCH', '/v1/endpoints/ep_route_order', { enabled: false }],
      ['DELETE', '/v1/endpoints/ep_route_order', undefined],
      ['POST', '/v1/endpoints/ep_route_order/rotate-secret', {}],
    ] as const) {
      const answer = await herald.api(method, route, body);
      assert.equal(answer.status, 409, `${method} ${route}`);
      assert.match(answer.body.detail, /static route "order"/);
    }
    assert.equal((await herald.api('GET', '/v1/endpoints/ep_route_order')).body.enabled, true);
  });

  test('the order form\'s event reaches its Make scenario in the order-form shape with X-Webhook-Secret', async () => {
    assert.deepEqual(await deliveredTo('order_submitted', { status: 'pending_review', company_name: 'Example Ltd' }), ['ep_route_order']);
    const [request] = await receiver.waitFor('/order', 1);
    const body = JSON.parse(request!.body);
    assert.deepEqual(Object.keys(body), ['event_type', 'source_app', 'request_id', 'submitted_at', 'status', 'company_name']);
    assert.equal(body.source_app, 'pu_observatory');
    assert.equal(request!.headers['x-webhook-secret'], 'make-scenario-secret');
  });

  test('each event type goes to its route; the fallback takes only what no other route takes', async () => {
    assert.deepEqual(await deliveredTo('booking.created', { order_id: 'o1' }), ['ep_route_booking']);
    assert.deepEqual(await deliveredTo('ticket.created', { ticket_id: 't1' }), ['ep_route_ticket']);
    assert.deepEqual(await deliveredTo('error.occurred', { error_id: 'e1' }), ['ep_route_fallback']);
    const [ticket] = await receiver.waitFor('/ticket', 1);
    assert.equal(ticket!.headers['x-signature'], `sha256=${crypto.createHmac('sha256', 'ticket-signing-key').update(ticket!.body).digest('hex')}`);
    const [fallback] = await receiver.waitFor('/fallback', 1);
    assert.equal(JSON.parse(fallback!.body).type, 'error.occurred');
  });

  test('an endpoint made through the API subscribes beside them and does not take the fallback\'s place', async () => {
    const created = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/audit'), eventTypes: ['*'] });
    assert.equal(created.status, 201);
    assert.equal(created.body.readOnly, false);
    assert.deepEqual(await deliveredTo('course.created', { course_id: 'c1' }), [created.body.id, 'ep_route_fallback'].sort());
  });
});
