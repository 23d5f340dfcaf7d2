import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RetryPolicy } from '../../src/delivery/retryPolicy.ts';
import type { DeliveryDetail } from '../../src/storage/deliveryLog.ts';
import { assertGaps, deliverOneEvent, deliveryOf, type StartedDelivery } from '../support/deliveries.ts';
import { Receiver, type Responder } from '../support/receiver.ts';
import { startTimeSkippingHerald, type TimeSkippingHerald } from '../support/timeSkipping.ts';

const SECOND = 1000, MINUTE = 60 * SECOND, HOUR = 60 * MINUTE;
const OUTAGE_MS = 6 * HOUR;

/** Each policy with the waits it schedules before its first attempt after six hours (none falls near the end of the outage). */
const policies: { retryPolicy: RetryPolicy; gaps: number[]; jitter?: number }[] = [
  { retryPolicy: 'standard', gaps: [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR] }, // last attempt at 7 h 35 m
  { retryPolicy: { schedule: ['100m', '100m', '100m', '100m', '100m'] }, gaps: [100 * MINUTE, 100 * MINUTE, 100 * MINUTE, 100 * MINUTE] }, // 6 h 40 m
  { retryPolicy: { initialInterval: '10m', backoffCoefficient: 2, maximumAttempts: 10 }, gaps: [10, 20, 40, 80, 160, 320].map((m) => m * MINUTE) }, // 10 h 30 m
  { retryPolicy: { initialInterval: '1m', backoffCoefficient: 3, maximumInterval: '90m', maximumAttempts: 12 }, gaps: [1, 3, 9, 27, 81, 90, 90, 90].map((m) => m * MINUTE) }, // 6 h 31 m
  { retryPolicy: { schedule: ['30m', '1h', '2h', '5h'], jitter: 0.2 }, gaps: [30 * MINUTE, 1 * HOUR, 2 * HOUR, 5 * HOUR], jitter: 0.2 }, // 6 h 48 m at the earliest
];

let herald: TimeSkippingHerald;
/** Answers 503 until six hours of workflow time have passed, by the test server's clock. */
let unavailable: Receiver;
/** Refuses connections (its listening socket closed) for the same six hours. */
let refusing: Receiver;
before(async () => {
  herald = await startTimeSkippingHerald();
  // Arrivals are stamped with the test server's clock: gaps are workflow time.
  const clock = () => herald.env.currentTimeMs();
  [unavailable, refusing] = await Promise.all([Receiver.start({ clock }), Receiver.start({ clock })]);
});
after(async () => {
  await herald?.stop();
  await unavailable?.close();
  await refusing?.close();
});

test('receivers down for six hours of workflow time: 25 deliveries on five policies all end delivered, on schedule, one webhook-id each', async () => {
  const outageEndsAt = (await herald.env.currentTimeMs()) + OUTAGE_MS;
  const backAfterOutage: Responder = async () => ((await herald.env.currentTimeMs()) < outageEndsAt ? { status: 503 } : { status: 200 });
  await refusing.close();

  const deliveries: (StartedDelivery & { receiver: Receiver; policy: (typeof policies)[number] })[] = [];
  for (let i = 0; i < 25; i++) {
    const policy = policies[i % policies.length]!;
    const receiver = i % 2 === 0 ? unavailable : refusing;
    const started = await deliverOneEvent(herald, receiver, { retryPolicy: policy.retryPolicy, replies: backAfterOutage });
    deliveries.push({ ...started, receiver, policy });
  }
  // Six hours pass on the test server's clock while attempts are refused; then the refusing receiver listens again.
  await herald.env.sleep(OUTAGE_MS);
  await refusing.acceptConnections();

  // One result at a time: each unlocks time skipping while it waits, and the test server refuses overlapping unlocks.
  const results: DeliveryDetail[] = [];
  for (const started of deliveries) {
    await started.handle.result();
    results.push(await deliveryOf(herald, started));
  }
  results.forEach((delivery, i) => {
    const { path, receiver, policy } = deliveries[i]!;
    assert.equal(delivery.status, 'delivered', delivery.id);
    assert.equal(delivery.attempts.length, policy.gaps.length + 1, `${delivery.id}: attempts`);
    const failed = delivery.attempts.slice(0, -1);
    const requests = receiver.received(path);
    if (receiver === unavailable) {
      assert.ok(failed.every((a) => a.statusCode === 503), `${delivery.id}: ${JSON.stringify(failed)}`);
      // The receiver saw every attempt, on schedule, the last one after the outage.
      assertGaps(requests, policy.gaps, policy.jitter);
      assert.ok(requests.slice(0, -1).every((r) => r.at < outageEndsAt), `${delivery.id}: an attempt after the outage failed`);
    } else {
      assert.ok(failed.every((a) => a.statusCode === null && /ECONNREFUSED/.test(a.error ?? '')), `${delivery.id}: ${JSON.stringify(failed)}`);
    }
    assert.ok(requests.at(-1)!.at >= outageEndsAt && requests.at(-1)!.status === 200, `${delivery.id}: delivered during the outage`);
    // Every request that reached the receiver carried the delivery's one webhook-id.
    assert.equal(new Set(requests.map((r) => r.headers['webhook-id'])).size, 1, path);
    assert.equal(requests.length, receiver === unavailable ? delivery.attempts.length : 1, path);
  });

  // Counted as a receiver that deduplicates on webhook-id counts: each accepted event once.
  const deliveredIds = new Set(deliveries.flatMap(({ receiver, path }) => [...receiver.delivered(path)]));
  assert.equal(deliveredIds.size, deliveries.length);
  const attempts = results.reduce((sum, delivery) => sum + delivery.attempts.length, 0);
  console.log(`six-hour outage: ${deliveredIds.size} of ${deliveries.length} events delivered at the receivers after ${attempts} attempts`);
});
