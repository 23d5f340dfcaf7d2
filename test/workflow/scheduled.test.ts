import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { deliverOneEvent, deliveryOf } from '../support/deliveries.ts';
import { startTimeSkippingHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const HOUR_MS = 3_600_000;
const { herald, receiver, stop } = await startTimeSkippingHeraldWithReceiver();
after(stop);

test('an event scheduled 24 h ahead arrives once 24 h have passed, not before, and its wait holds no timer', async () => {
  const ingestedAt = await herald.env.currentTimeMs();
  const started = await deliverOneEvent(herald, receiver, { retryPolicy: 'standard', replies: [{ status: 200 }], startDelayMs: 24 * HOUR_MS });
  const state = await herald.temporal.eventState(started.tenant, 'evt_1');
  assert.equal(state?.status, 'scheduled');
  assert.ok(Math.abs(Date.parse(state!.deliverAt!) - (ingestedAt + 24 * HOUR_MS)) < 60_000, `deliverAt ${state!.deliverAt}`);

  await herald.env.sleep('23h');
  assert.equal(receiver.received(started.path).length, 0);
  assert.equal((await herald.temporal.eventState(started.tenant, 'evt_1'))?.status, 'scheduled');

  // Skips time until the event's workflow ends: delivered at the first attempt, it ends right after.
  await started.handle.result();
  const [arrival, ...more] = receiver.received(started.path);
  assert.equal(more.length, 0);
  const hoursAfterIngest = (arrival!.at - ingestedAt) / HOUR_MS;
  assert.ok(hoursAfterIngest >= 24 && hoursAfterIngest < 25, `arrived ${hoursAfterIngest} h after ingest`);
  assert.equal((await deliveryOf(herald, started)).status, 'delivered');
  const { events } = await started.handle.fetchHistory();
  assert.ok(!events?.some((event) => event.timerStartedEventAttributes), 'the wait before the start is no timer');
});

test('an event cancelled before it is due never arrives; its id stays taken', async () => {
  const started = await deliverOneEvent(herald, receiver, { retryPolicy: 'standard', replies: [{ status: 200 }], startDelayMs: 24 * HOUR_MS });
  assert.equal(await herald.temporal.cancelScheduled(started.tenant, 'evt_1'), 'cancelled');
  assert.equal((await herald.temporal.eventState(started.tenant, 'evt_1'))?.status, 'cancelled');
  assert.equal(await herald.temporal.cancelScheduled(started.tenant, 'evt_1'), 'closed');

  await herald.env.sleep('25h');
  assert.equal(receiver.received(started.path).length, 0);
  const again = { tenant: started.tenant, id: 'evt_1', type: 'order.submitted', occurredAt: new Date().toISOString(), data: {} };
  assert.equal(await herald.temporal.ingest(again, [], 10_000), 'duplicate');
});
