import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import { waitForDelivered } from '../support/herald.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import { eventsDeliveredAt, Receiver, type Reply } from '../support/receiver.ts';

// The many-replays test replays past the default allowance of 100 a minute; these tests follow every attempt of a
// failing endpoint, and the circuit that would hold them after 10 is test/workflow/circuitBreaker.test.ts's.
const { herald, receiver, stop } = await startHeraldWithReceiver({ HERALD_MAX_REPLAYS_PER_MINUTE: '1000', HERALD_CIRCUIT_FAILURES: '1000' });
after(stop);

describe('deliveries API on the embedded Temporal dev server', () => {
  let n = 0;
  /** An endpoint in a tenant of its own, answering with `replies`; returns what a test needs. */
  async function endpointFor(retryPolicy: unknown, ...replies: Reply[]) {
    const tenant = `deliveries${++n}`;
    const path = `/${tenant}`;
    const created = await herald.api('POST', '/v1/endpoints', { url: receiver.script(path, ...replies), retryPolicy, tenant });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const send = async (id: string) => {
      const ingest = await herald.api('POST', '/v1/events', { id, type: 'invoice.paid', data: { id }, tenant });
      assert.equal(ingest.status, 202);
      return `delivery:${tenant}:${id}:${created.body.id}`;
    };
    return { tenant, path, endpointId: created.body.id as string, send };
  }
  const statusOf = async (id: string) => (await herald.api('GET', `/v1/deliveries/${id}`)).body;
  const until = (id: string, status: string) => eventually(() => statusOf(id), (s) => s?.status === status);

  test('a receiver that answers 500 three times then 200 shows four attempts', async () => {
    const { send } = await endpointFor({ schedule: ['1s', '1s', '1s'] }, { status: 500, body: 'boom' }, { status: 500 }, { status: 500 }, { status: 200 });
    const id = await send('inv-1');
    const delivered = await until(id, 'delivered');
    assert.deepEqual(delivered.attempts.map((a: { statusCode: number }) => a.statusCode), [500, 500, 500, 200]);
    assert.equal(delivered.attempts[0].responseExcerpt, 'boom');
    assert.equal(delivered.attempts[0].error, 'HTTP 500');

    const event = await herald.api('GET', `/v1/events/inv-1?tenant=${id.split(':')[1]}`);
    assert.equal(event.status, 200);
    assert.equal(event.body.event.type, 'invoice.paid');
    assert.deepEqual(event.body.deliveries.map((d: { id: string }) => d.id), [id]);
  });

  test('a failed delivery is listed as failed and comes back with replay, under the same webhook-id', async () => {
    const { path, endpointId, tenant, send } = await endpointFor('none', { status: 503 }, { status: 200 });
    const id = await send('inv-2');
    await until(id, 'failed');
    const listed = await eventually(
      () => herald.api('GET', `/v1/deliveries?status=failed&endpointId=${endpointId}&tenant=${tenant}`),
      (r) => r.body.data.length === 1,
    );
    assert.equal(listed.body.data[0].id, id);
    assert.equal(listed.body.data[0].attempts, 1);

    const replay = await herald.api('POST', `/v1/deliveries/${id}/replay`);
    assert.equal(replay.status, 202);
    const delivered = await until(id, 'delivered');
    assert.deepEqual(delivered.attempts.map((a: { statusCode: number }) => a.statusCode), [503, 200]);
    const [first, second] = receiver.received(path);
    assert.equal(first!.headers['webhook-id'], second!.headers['webhook-id']);
  });

  test('replaying a delivered delivery sends it again after its workflow has closed', async () => {
    const { path, send } = await endpointFor('none', { status: 200 });
    const id = await send('inv-3');
    await until(id, 'delivered');
    await eventually(() => herald.client.workflow.getHandle(`event:${id.split(':')[1]}:inv-3`).describe(), (d) => d.status.name === 'COMPLETED');
    assert.equal((await herald.api('POST', `/v1/deliveries/${id}/replay`)).status, 202);
    const requests = await receiver.waitFor(path, 2);
    assert.equal(requests[0]!.headers['webhook-id'], requests[1]!.headers['webhook-id']);
    const again = await until(id, 'delivered');
    assert.deepEqual(again.attempts.map((a: { attempt: number }) => a.attempt), [1, 2]);
  });

  test('recover replays every failed delivery of an endpoint since a given time', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const { path, endpointId, tenant, send } = await endpointFor('none', { status: 500 }, { status: 500 }, { status: 200 });
    const ids = [await send('inv-4'), await send('inv-5')];
    for (const id of ids) await until(id, 'failed');
    await eventually(
      () => herald.api('GET', `/v1/deliveries?status=failed&endpointId=${endpointId}&tenant=${tenant}`),
      (r) => r.body.data.length === 2,
    );
    const recovered = await herald.api('POST', `/v1/endpoints/${endpointId}/recover`, { since, tenant });
    assert.equal(recovered.status, 202);
    assert.deepEqual([...recovered.body.replayed].sort(), [...ids].sort());
    for (const id of ids) await until(id, 'delivered');
    assert.equal(receiver.received(path).length, 4);
  });

  test('each attempt shows the request as the receiver got it, credentials masked, and still does after the endpoint changes', async () => {
    const tenant = `deliveries${++n}`;
    const token = `Bearer receiver-token-${n}`;
    const signed = await herald.api('POST', '/v1/endpoints', {
      url: receiver.script(`/${tenant}/signed`, { status: 500 }, { status: 200 }), retryPolicy: { schedule: ['1s'] }, tenant, headers: { Authorization: token, 'X-Team': 'billing' },
    });
    const sharedSecret = await herald.api('POST', '/v1/endpoints', { url: receiver.script(`/${tenant}/shared`), signature: 'shared-secret', secret: 'order-form-secret', tenant });
    assert.equal((await herald.api('POST', '/v1/events', { id: 'sent-1', type: 'invoice.paid', data: { invoice: 'INV-1', note: 'ünïcode' }, tenant })).status, 202);
    const deliveryOf = (endpoint: { body: { id: string } }) => `delivery:${tenant}:sent-1:${endpoint.body.id}`;
    const [signedDelivery, sharedDelivery] = [await until(deliveryOf(signed), 'delivered'), await until(deliveryOf(sharedSecret), 'delivered')];

    // What the transport adds on its own: framing, not Herald's request.
    const transport = new Set(['host', 'content-length', 'connection']);
    const asReceived = (path: string, index: number) => {
      const got = receiver.received(path)[index]!;
      const headers = Object.fromEntries(Object.entries(got.headers).filter(([name]) => !transport.has(name)).map(([name, value]) => [name, String(value)]));
      return { got, headers };
    };
    /** The attempt's request equals what arrived, but for the masked values. */
    const assertShownAsReceived = (request: any, path: string, index: number, masked: Record<string, string>) => {
      const { got, headers } = asReceived(path, index);
      assert.equal(request.method, 'POST');
      assert.equal(request.url, `${receiver.url}${path}`);
      assert.equal(request.body, got.body);
      assert.deepEqual(request.headers, { ...headers, ...masked });
      assert.deepEqual(Object.keys(request.headers), Object.keys(headers), 'in the order they were sent');
      for (const name of Object.keys(masked)) assert.notEqual(headers[name], masked[name], `${name} arrived in clear`);
    };
    // Two attempts, each its own request (its own timestamp and signature); the signature shown is the one that arrived.
    assert.equal(signedDelivery.attempts.length, 2);
    signedDelivery.attempts.forEach((attempt: any, index: number) => assertShownAsReceived(attempt.request, `/${tenant}/signed`, index, { authorization: '********', 'x-team': '********' }));
    assert.equal(asReceived(`/${tenant}/signed`, 0).headers.authorization, token);
    assertShownAsReceived(sharedDelivery.attempts[0].request, `/${tenant}/shared`, 0, { 'x-webhook-secret': '[masked]' });
    assert.ok(!JSON.stringify([signedDelivery, sharedDelivery]).includes('order-form-secret') && !JSON.stringify(signedDelivery).includes(token));

    // The endpoint changes (URL, headers, format): what was sent stays as it was sent.
    const patched = await herald.api('PATCH', `/v1/endpoints/${signed.body.id}?tenant=${tenant}`, { url: receiver.script(`/${tenant}/moved`), headers: { 'X-Other': 'x' }, format: 'flat' });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const after = await statusOf(deliveryOf(signed));
    assert.deepEqual(after.attempts.map((a: any) => a.request), signedDelivery.attempts.map((a: any) => a.request));
    assertShownAsReceived(after.attempts[1].request, `/${tenant}/signed`, 1, { authorization: '********', 'x-team': '********' });
  });

  test('an unknown or malformed delivery id is a 404 problem', async () => {
    for (const id of ['delivery:default:nope:ep_nope', 'not-a-delivery']) {
      const answer = await herald.api('GET', `/v1/deliveries/${id}`);
      assert.equal(answer.status, 404);
      assert.equal(answer.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal((await herald.api('POST', `/v1/deliveries/${id}/replay`)).status, 404);
    }
  });

  test('an event replayed many times continues as new before its history passes 1,000 events, keeping its attempt log', async () => {
    const { send, tenant } = await endpointFor('none', { status: 500 });
    const id = await send('inv-many');
    const handle = herald.client.workflow.getHandle(`event:${tenant}:inv-many`);
    const firstRunId = (await until(id, 'failed'), await handle.describe()).runId;
    let replays = 0;
    for (;; replays++) {
      const { runId, historyLength } = await handle.describe();
      if (runId !== firstRunId) break;
      assert.ok(historyLength < 1100, `history grew to ${historyLength} events`);
      assert.ok(replays < 400, 'never continued as new');
      assert.equal((await herald.api('POST', `/v1/deliveries/${id}/replay`)).status, 202);
      await eventually(() => statusOf(id), (s) => s.status === 'failed' && s.attempts.at(-1).attempt === replays + 2, 10_000, 20);
    }
    // Still a dead letter after continuing as new, and still replayable.
    assert.equal((await handle.describe()).status.name, 'RUNNING');
    const status = await statusOf(id);
    assert.equal(status.status, 'failed');
    assert.equal(status.attempts.at(-1).attempt, replays + 1);
    const listed = await herald.api('GET', `/v1/deliveries?status=failed&tenant=${tenant}`);
    assert.equal(listed.body.data.length, 1);
    assert.equal(listed.body.data[0].attempts, replays + 1);
    assert.equal((await herald.api('POST', `/v1/deliveries/${id}/replay`)).status, 202);
    await eventually(() => statusOf(id), (s) => s.attempts.at(-1).attempt === replays + 2, 10_000, 20);
  });

  test('a receiver down for several attempts: every event is delivered once it is back, under one webhook-id each', async () => {
    const down = await Receiver.start();
    try {
      // Both policies wait 1, 2, 4, 8 and 16 s: the receiver comes back after each delivery's third attempt, well before its
      // sixth and last even when the machine is busy (other test files run beside this one).
      const policies = [{ schedule: ['1s', '2s', '4s', '8s', '16s'] }, { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 6 }];
      const endpoints = await Promise.all(policies.map(async (retryPolicy, i) => {
        const path = `/outage-${i + 1}`;
        const { body } = await herald.api('POST', '/v1/endpoints', { url: down.script(path, { status: 200 }), eventTypes: ['booking.*'], retryPolicy });
        return { id: body.id as string, path };
      }));
      await down.close(); // connections refused from here on

      const firstPostAt = Date.now();
      const eventIds = Array.from({ length: 15 }, (_, i) => `outage-${i + 1}`);
      for (const eventId of eventIds) {
        assert.equal((await herald.api('POST', '/v1/events', { id: eventId, type: 'booking.created', data: { eventId } })).status, 202);
      }
      const deliveryIds = eventIds.flatMap((eventId) => endpoints.map((endpoint) => `delivery:default:${eventId}:${endpoint.id}`));
      await eventually(
        () => Promise.all(deliveryIds.map((id) => herald.api('GET', `/v1/deliveries/${id}`).then((r) => r.body?.attempts?.length ?? 0))),
        (attempts) => attempts.every((n) => n >= 3),
        30_000,
        250,
      );
      await down.acceptConnections();

      const statuses = await waitForDelivered(herald, deliveryIds);
      const outageToDeliveredMs = Date.now() - firstPostAt;
      for (const status of statuses) {
        const failed = status.attempts.slice(0, -1);
        assert.ok(failed.length >= 3 && failed.every((a) => a.statusCode === null && /ECONNREFUSED/.test(a.error ?? '')), JSON.stringify(status.attempts));
        assert.equal(status.attempts.at(-1)!.statusCode, 200);
        // Never sooner than the policy says.
        status.attempts.slice(1).forEach((a, i) => {
          assert.ok(Date.parse(a.startedAt) - Date.parse(status.attempts[i]!.startedAt) >= 1000 * 2 ** i, `${status.id}: attempt ${a.attempt} too early`);
        });
      }
      for (const { path } of endpoints) assert.equal(eventsDeliveredAt(down, path), eventIds.length);
      const attempts = statuses.reduce((sum, s) => sum + s.attempts.length, 0);
      console.log(`receiver outage on the dev server: ${eventIds.length} events to ${endpoints.length} endpoints delivered after ${attempts} attempts, ${outageToDeliveredMs} ms from the first post`);
    } finally {
      await down.close();
    }
  });
});
