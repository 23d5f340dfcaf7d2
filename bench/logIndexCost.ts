/**
 * `node --import tsx bench/logIndexCost.ts`: what the attempt log's parts cost each attempt's write, side by side.
 * COMPARE=indexes (the default): the message log's filter indexes (migration 10), kept in one database and dropped
 * in the other. COMPARE=request: the request as sent (migration 11), recorded in one database and not in the other
 * (a 600-byte body, cut at 1 KiB as an attempt keeps it, and the headers of a signed Standard Webhooks request).
 * Two embedded PGlite databases in this one process, each holding 100,000 deliveries (ROWS). Batches of attempt
 * records (DeliveryLog.attemptRecord, the part of the one statement an attempt sends) alternate between them;
 * half open a delivery, half settle it. BENCHMARKS.md has the figures.
 */
import { openDb, type Db } from '../src/storage/db.ts';
import { DeliveryLog, type SentRequest } from '../src/storage/deliveryLog.ts';
import { Statement } from '../src/storage/statement.ts';
import { percentile, round } from './stats.ts';

const ROWS = Number(process.env.ROWS ?? 100_000);
const BATCHES = Number(process.env.BATCHES ?? 20);
const PER_BATCH = Number(process.env.PER_BATCH ?? 200);
const COMPARE = process.env.COMPARE ?? 'indexes';
const FILTER_INDEXES = ['deliveries_tenant_status_created', 'deliveries_tenant_endpoint_created', 'deliveries_tenant_type_created'];
/** What an attempt at a typical endpoint records of its request. */
const SENT: SentRequest = {
  method: 'POST', url: 'https://receiver.example.com/webhooks/orders',
  headers: {
    'user-agent': 'Herald/0.1.0', 'content-type': 'application/json', 'webhook-id': 'msg_KxmxZuL3_qRUuyhRg7_6rgB3uem', 'webhook-timestamp': '1795446584',
    'webhook-signature': 'v1,Bq3PB1xkq2Zr0m1D8C8s5m3GgFJ0y5Yc8Pz2QeW4b1A=', authorization: '********',
  },
  body: JSON.stringify({ type: 'order.paid', timestamp: '2026-11-23T15:09:44.314Z', data: { orderId: 'ord_1001', lines: Array.from({ length: 6 }, (_, i) => ({ sku: `SKU-${i}`, quantity: i + 1, price: 9.99 })) } }).padEnd(600, ' '),
};

async function seeded(withIndexes: boolean): Promise<Db> {
  const db = await openDb({ dataDir: 'memory://' });
  if (!withIndexes) for (const index of FILTER_INDEXES) await db.query(`DROP INDEX ${index}`);
  await db.query(`INSERT INTO deliveries (id, tenant, event_id, endpoint_id, event_type, status, attempts, created_at, updated_at)
    SELECT 'delivery:bench:seed-' || i || ':ep_' || (i % 20), 'bench', 'seed-' || i, 'ep_' || (i % 20), 'order.' || (ARRAY['created','paid','shipped','cancelled','refunded'])[1 + i % 5],
      (ARRAY['delivered','delivered','delivered','failed','retrying'])[1 + i % 5], 1, now() - (i * interval '6 seconds'), now() - (i * interval '6 seconds')
    FROM generate_series(1, $1::int) AS i`, [ROWS]);
  return db;
}

const variants = COMPARE === 'request'
  ? [
    { name: 'with the request as sent', db: await seeded(true), request: SENT, times: [] as number[] },
    { name: 'without it', db: await seeded(true), request: null, times: [] as number[] },
  ]
  : [
    { name: 'with the filter indexes', db: await seeded(true), request: SENT, times: [] as number[] },
    { name: 'without them', db: await seeded(false), request: SENT, times: [] as number[] },
  ];

/** One attempt's record, as the attempt sends it: attempt 1 fails (the delivery's row is made), attempt 2 delivers (it is updated). */
async function recordAttempt(db: Db, request: SentRequest | null, n: number, attempt: 1 | 2): Promise<void> {
  const statement = new Statement();
  new DeliveryLog(db).attemptRecord({
    deliveryId: `delivery:bench:evt-${n}:ep_${n % 20}`, tenant: 'bench', eventId: `evt-${n}`, endpointId: `ep_${n % 20}`, eventType: 'order.paid', budget: 'b0',
    attempt, startedAt: new Date().toISOString(), durationMs: 20, statusCode: attempt === 1 ? 500 : 200, error: null, responseExcerpt: null, responseHeaders: null, request,
    status: attempt === 1 ? 'retrying' : 'delivered', nextAttemptAt: null,
  })(statement);
  await db.query(statement.sql(), statement.params);
}

let next = 0;
for (let batch = 0; batch < BATCHES; batch++) {
  const first = next;
  for (const variant of batch % 2 ? [...variants].reverse() : variants) {
    const at = performance.now();
    for (let i = 0; i < PER_BATCH / 2; i++) await recordAttempt(variant.db, variant.request, first + i, 1);
    for (let i = 0; i < PER_BATCH / 2; i++) await recordAttempt(variant.db, variant.request, first + i, 2);
    variant.times.push((performance.now() - at) / PER_BATCH);
  }
  next += PER_BATCH / 2;
}
console.log(`| ${ROWS} deliveries, ${BATCHES} alternating batches of ${PER_BATCH} attempt records | per attempt, median batch | p95 batch |\n|---|---|---|`);
for (const { name, times } of variants) {
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`| ${name} | ${round(percentile(sorted, 50), 3)} ms | ${round(percentile(sorted, 95), 3)} ms |`);
}
const [withPart, without] = variants.map((v) => percentile([...v.times].sort((a, b) => a - b), 50));
console.log(`ratio with ÷ without: ${round(withPart! / without!, 3)}`);
for (const { db } of variants) await db.close();
