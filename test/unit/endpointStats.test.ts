import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Db } from '../../src/storage/db.ts';
import { endpointStats } from '../../src/storage/endpointStats.ts';
import { openTestMemoryDb } from '../support/suiteSetup.ts';

let db: Db;
const now = Date.parse('2026-12-03T12:00:00.000Z');
before(async () => {
  db = await openTestMemoryDb();
  // ep_a: three attempts in the last hour (the newest delivered), one a day ago; ep_b: one attempt, not ep_a's.
  const attempts: [string, number, number | null, number][] = [
    ['ep_a', 30_000, 200, 100], ['ep_a', 90_000, 500, 300], ['ep_a', 150_000, 200, 10], ['ep_a', 86_000_000, 200, 50], ['ep_b', 30_000, 500, 999],
  ];
  for (const [i, [endpointId, ago, statusCode, durationMs]] of attempts.entries()) {
    const id = `delivery:t:e${i}:${endpointId}`;
    await db.query(`INSERT INTO deliveries (id, tenant, event_id, endpoint_id, event_type, status) VALUES ($1, 't', $2, $3, 'order.paid', 'delivered')`, [id, `e${i}`, endpointId]);
    await db.query(`INSERT INTO delivery_attempts (delivery_id, attempt, budget, started_at, duration_ms, status_code) VALUES ($1, 1, 'b', $2, $3, $4)`,
      [id, new Date(now - ago).toISOString(), durationMs, statusCode]);
  }
});
after(() => db?.close());

test('stats over a window count its attempts; with series, the same attempts fall in their buckets, oldest first', async () => {
  const plain = await endpointStats(db, 'ep_a', '1h', { now });
  assert.deepEqual(plain, {
    window: '1h', since: '2026-12-03T11:00:00.000Z', attempts: 3, delivered: 2, failed: 1, successRate: 2 / 3, latencyMs: { p50: 100, p95: 280, p99: 296 },
  });

  const withSeries = await endpointStats(db, 'ep_a', '1h', { now, series: true });
  assert.deepEqual({ ...withSeries, bucketMs: undefined, series: undefined }, { ...plain, bucketMs: undefined, series: undefined });
  assert.equal(withSeries.bucketMs, 60_000);
  assert.equal(withSeries.series!.length, 60);
  assert.equal(withSeries.series![0]!.at, '2026-12-03T11:00:00.000Z');
  const busy = withSeries.series!.filter((bucket) => bucket.attempts > 0);
  assert.deepEqual(busy.map((bucket) => [bucket.at, bucket.attempts, bucket.delivered, bucket.failed, bucket.latencyMs.p50]), [
    ['2026-12-03T11:57:00.000Z', 1, 1, 0, 10], ['2026-12-03T11:58:00.000Z', 1, 0, 1, 300], ['2026-12-03T11:59:00.000Z', 1, 1, 0, 100],
  ]);
  assert.deepEqual(withSeries.series![0], { at: '2026-12-03T11:00:00.000Z', attempts: 0, delivered: 0, failed: 0, latencyMs: { p50: null, p95: null, p99: null } });

  const week = await endpointStats(db, 'ep_a', '7d', { now, series: true });
  assert.deepEqual([week.attempts, week.bucketMs, week.series!.length, week.series!.reduce((sum, bucket) => sum + bucket.attempts, 0)], [4, 10_800_000, 56, 4]);
  const day = await endpointStats(db, 'ep_a', '24h', { now, series: true });
  assert.deepEqual([day.attempts, day.bucketMs, day.series!.length], [4, 1_800_000, 48]);
});

test('an endpoint without attempts in the window has empty buckets and no rates', async () => {
  const empty = await endpointStats(db, 'ep_none', '1h', { now, series: true });
  assert.deepEqual([empty.attempts, empty.successRate, empty.latencyMs.p50, empty.series!.length, empty.series!.some((b) => b.attempts > 0)], [0, null, null, 60, false]);
});
