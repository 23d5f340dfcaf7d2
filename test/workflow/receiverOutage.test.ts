import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RetryPolicy } from '../../src/delivery/retryPolicy.ts';
import type { DeliveryStatus } from '../../workflows/types.ts';
import { assertGaps, deliverOneEvent, type StartedDelivery } from '../support/deliveries.ts';
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
  [herald, unavailable, refusing] = await Promise.all([startTimeSkippingHerald(), Receiver.start(), Receiver.start()]);
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
  const results: DeliveryStatus[] = [];
  for (const { handle } of deliveries) results.push(await handle.result());
  results.forEach((status, i) => {
    const { path, receiver, policy } = deliveries[i]!;
    assert.equal(status.status, 'delivered', status.id);
    assertGaps(status, policy.gaps, policy.jitter);
    const attempts = status.attempts.map((a) => ({ at: Date.parse(a.startedAt), statusCode: a.statusCode, error: a.error }));
    assert.ok(attempts.slice(0, -1).every((a) => a.at < outageEndsAt), `${status.id}: an attempt after the outage failed`);
    assert.ok(attempts.at(-1)!.at >= outageEndsAt && attempts.at(-1)!.statusCode === 200, `${status.id}: delivered during the outage`);
    if (receiver === unavailable) {
      assert.ok(attempts.slice(0, -1).every((a) => a.statusCode === 503), `${status.id}: ${JSON.stringify(attempts)}`);
    } else {
      assert.ok(attempts.slice(0, -1).every((a) => a.statusCode === null && /ECONNREFUSED/.test(a.error ?? '')), `${status.id}: ${JSON.stringify(attempts)}`);
    }
    // Every request that reached the receiver carried the delivery's one webhook-id.
    const requests = receiver.received(path);
    assert.equal(new Set(requests.map((r) => r.headers['webhook-id'])).size, 1, path);
    assert.equal(requests.length, receiver === unavailable ? status.attempts.length : 1, path);
  });

  // Counted as a receiver that deduplicates on webhook-id counts: each accepted event once.
  const deliveredIds = new Set(deliveries.flatMap(({ receiver, path }) => [...receiver.delivered(path)]));
  assert.equal(deliveredIds.size, deliveries.length);
  const attempts = results.reduce((sum, status) => sum + status.attempts.length, 0);
  console.log(`six-hour outage: ${deliveredIds.size} of ${deliveries.length} events delivered at the receivers after ${attempts} attempts`);
});
