import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import { startTestHerald, waitForDelivered, type TestHerald } from '../support/herald.ts';
import { eventsDeliveredAt, Receiver } from '../support/receiver.ts';

let herald: TestHerald;
let receiver: Receiver;
before(async () => {
  [herald, receiver] = await Promise.all([startTestHerald(), Receiver.start()]);
});
after(async () => {
  await herald?.stop();
  await receiver?.close();
});

test('a receiver down for several attempts on the embedded default: every event is delivered once it is back', async () => {
  // Both policies wait 1, 2, 4 and 8 s: the receiver comes back after each delivery's third attempt, well before its fifth and last.
  const policies = [{ schedule: ['1s', '2s', '4s', '8s'] }, { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 5 }];
  const endpoints = await Promise.all(policies.map(async (retryPolicy, i) => {
    const path = `/outage-${i + 1}`;
    const { body } = await herald.api('POST', '/v1/endpoints', { url: receiver.script(path, { status: 200 }), eventTypes: ['booking.*'], retryPolicy });
    return { id: body.id as string, path };
  }));
  await receiver.close(); // connections refused from here on

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
  await receiver.acceptConnections();

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
  for (const { path } of endpoints) assert.equal(eventsDeliveredAt(receiver, path), eventIds.length);
  const attempts = statuses.reduce((sum, s) => sum + s.attempts.length, 0);
  console.log(`receiver outage on the dev server: ${eventIds.length} events to ${endpoints.length} endpoints delivered after ${attempts} attempts, ${outageToDeliveredMs} ms from the first post`);
});
