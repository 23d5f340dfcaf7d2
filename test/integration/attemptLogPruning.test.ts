import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import { startTestHerald, type TestHerald, waitForDeliveryStatus } from '../support/herald.ts';
import { Receiver } from '../support/receiver.ts';

let herald: TestHerald;
let receiver: Receiver;
before(async () => {
  [herald, receiver] = await Promise.all([startTestHerald({ HERALD_ATTEMPT_LOG_RETENTION: '8s' }), Receiver.start()]);
});
after(async () => {
  await herald?.stop();
  await receiver?.close();
});

test('the attempt log is pruned by a Temporal Schedule: rows older than the retention go, newer ones stay', async () => {
  const created = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/pruned'), eventTypes: ['order.*'] });
  assert.equal(created.status, 201);
  const old = `delivery:default:old-1:${created.body.id}`;
  assert.equal((await herald.api('POST', '/v1/events', { id: 'old-1', type: 'order.paid' })).status, 202);
  await waitForDeliveryStatus(herald, old, 'delivered');
  await new Promise((resolve) => setTimeout(resolve, 8_500)); // past the 8 s retention
  const recent = `delivery:default:new-1:${created.body.id}`;
  assert.equal((await herald.api('POST', '/v1/events', { id: 'new-1', type: 'order.paid' })).status, 202);
  await waitForDeliveryStatus(herald, recent, 'delivered');

  // Herald created the schedule at start; run it now rather than wait a day.
  const schedule = herald.client.schedule.getHandle('herald-prune-delivery-log');
  assert.equal((await schedule.describe()).spec.intervals?.[0]?.every, 86_400_000);
  await schedule.trigger();
  await eventually(() => herald.api('GET', `/v1/deliveries/${old}`), (r) => r.status === 404, 30_000, 200);
  assert.equal((await herald.api('GET', `/v1/deliveries/${recent}`)).body.attempts.length, 1);
});
