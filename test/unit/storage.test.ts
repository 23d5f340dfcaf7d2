import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { generateSecret } from '../../src/signing/index.ts';
import { openDb, type Db } from '../../src/storage/db.ts';
import { EndpointStore, type NewEndpoint } from '../../src/endpoints/store.ts';
import { DeliveryLog } from '../../src/storage/deliveryLog.ts';
import { migrations } from '../../src/storage/migrations.ts';
import { Statement } from '../../src/storage/statement.ts';
import { TenantStore } from '../../src/storage/tenants.ts';
import { eventually } from '../support/eventually.ts';
import { startPostgres, type TestPostgres } from '../support/postgres.ts';
import { openTestMemoryDb } from '../support/suiteSetup.ts';

// One real PostgreSQL cluster for this file, each test group on a database of its own.
let cluster: TestPostgres | undefined;
async function newPostgresDatabase(name: string): Promise<string> {
  cluster ??= await startPostgres();
  return cluster.createDatabase(name);
}
after(() => cluster?.stop());

const storages = [
  { name: 'PGlite in memory', open: () => openTestMemoryDb() },
  { name: 'PostgreSQL', open: async () => openDb({ databaseUrl: await newPostgresDatabase('stores'), dataDir: 'unused' }) },
];

for (const storage of storages) describe(`storage of endpoints, tenants and keys (${storage.name})`, () => {
  let db: Db;
  before(async () => {
    db = await storage.open();
  });
  after(async () => {
    await db?.close();
  });

  const newEndpoint = (secret: string): NewEndpoint => ({
    tenant: 'store', url: 'https://receiver.example/hook', description: '', eventTypes: ['*'], retryPolicy: 'standard',
    timeoutMs: 15_000, format: 'standard', signature: { scheme: 'standard-webhooks' }, headers: {}, enabled: true, secret,
  });

  test('a rotated-out secret stops signing when its grace ends, even while the delivery cache is fresh', async () => {
    const store = new EndpointStore(db);
    const [oldSecret, newSecret] = [generateSecret(), generateSecret()];
    const { id } = await store.create(newEndpoint(oldSecret));
    const rotated = await store.rotateSecret('store', id, newSecret, 1_500);
    assert.deepEqual((await store.forDelivery('store', id))!.secrets, [newSecret, oldSecret]);
    // Waiting out a known expiry, well inside the 5 s cache.
    await delay(Date.parse(rotated!.previousSecretExpiresAt) - Date.now() + 10);
    assert.deepEqual((await store.forDelivery('store', id))!.secrets, [newSecret]);
  });

  test('update and delete take effect on the delivery path at once', async () => {
    const store = new EndpointStore(db);
    const { id } = await store.create(newEndpoint(generateSecret()));
    assert.equal((await store.forDelivery('store', id))!.url, 'https://receiver.example/hook');
    const updated = await store.update('store', id, { url: 'https://receiver.example/moved', enabled: false, eventTypes: ['order.*'] });
    assert.deepEqual([updated!.url, updated!.enabled, updated!.eventTypes], ['https://receiver.example/moved', false, ['order.*']]);
    assert.equal((await store.forDelivery('store', id))!.url, 'https://receiver.example/moved');
    assert.equal(await store.update('elsewhere', id, { description: 'not theirs' }), undefined);
    assert.equal(await store.delete('elsewhere', id), false);
    assert.equal(await store.delete('store', id), true);
    assert.equal(await store.forDelivery('store', id), undefined);
  });

  test('the delivery path finds an endpoint only for its own tenant', async () => {
    const store = new EndpointStore(db);
    const { id } = await store.create(newEndpoint(generateSecret()));
    assert.equal(await store.forDelivery('intruder', id), undefined);
    assert.equal((await store.forDelivery('store', id))?.id, id);
    // The cache answers per tenant too.
    assert.equal(await store.forDelivery('intruder', id), undefined);
  });

  test('static header values read back masked; the delivery path has them in clear; a masked value sent back keeps the stored one', async () => {
    const store = new EndpointStore(db);
    const headers = { Authorization: 'Bearer receiver-token', 'X-Region': 'eu' };
    const created = await store.create({ ...newEndpoint(generateSecret()), headers });
    const masked = { Authorization: '********', 'X-Region': '********' };
    assert.deepEqual(created.headers, masked);
    assert.deepEqual((await store.get('store', created.id))!.headers, masked);
    assert.deepEqual((await store.list('store', { limit: 200 })).find((e) => e.id === created.id)!.headers, masked);
    assert.deepEqual((await store.forDelivery('store', created.id))!.headers, headers);

    // Read, change one header, write back: the untouched one keeps its value; one the endpoint lacks is dropped.
    const updated = await store.update('store', created.id, { headers: { ...masked, 'X-Region': 'us', 'X-Unknown': '********' } });
    assert.deepEqual(updated!.headers, masked);
    assert.deepEqual((await store.forDelivery('store', created.id))!.headers, { Authorization: 'Bearer receiver-token', 'X-Region': 'us' });
  });

  test('with keys, signing secrets are sealed at rest, bound to their endpoint; plaintext rows still sign and are sealed at start', async () => {
    const keys = [{ id: 'k1', key: crypto.randomBytes(32) }];
    const plain = new EndpointStore(db);
    const sealing = new EndpointStore(db, { secretKeys: keys });
    const [before, secret, rotated] = [generateSecret(), generateSecret(), generateSecret()];
    const old = await plain.create(newEndpoint(before));
    const { id } = await sealing.create(newEndpoint(secret));
    const stored = async (endpointId: string) => (await db.query<{ secret: string; previous_secret: string | null }>('SELECT secret, previous_secret FROM endpoints WHERE id = $1', [endpointId]))[0]!;
    assert.match((await stored(id)).secret, /^herald-enc:v1:k1:/);
    assert.ok(!(await stored(id)).secret.includes(secret.slice(6)));
    assert.deepEqual((await sealing.forDelivery('store', id))!.secrets, [secret]);
    assert.equal(await sealing.currentSecret('store', id), secret);

    await sealing.rotateSecret('store', id, rotated, 60_000);
    assert.match((await stored(id)).previous_secret!, /^herald-enc:v1:k1:/);
    assert.deepEqual((await sealing.forDelivery('store', id))!.secrets, [rotated, secret]);

    // A row written before keys were configured still signs, and start seals it.
    assert.deepEqual((await sealing.forDelivery('store', old.id))!.secrets, [before]);
    const { sealed, unreadable } = await sealing.sealStoredSecrets();
    assert.ok(sealed >= 1);
    assert.deepEqual(unreadable, []);
    assert.match((await stored(old.id)).secret, /^herald-enc:v1:k1:/);
    assert.equal(await new EndpointStore(db, { secretKeys: keys }).currentSecret('store', old.id), before);

    // A sealed secret copied into another endpoint's row does not open there.
    await db.query('UPDATE endpoints SET secret = $1 WHERE id = $2', [(await stored(id)).secret, old.id]);
    await assert.rejects(new EndpointStore(db, { secretKeys: keys }).currentSecret('store', old.id), /fails authentication/);
  });

  test('with keys, the attempt log\'s excerpts (event data, the receiver\'s answer) are sealed at rest, bound to their attempt, and read in clear', async () => {
    const keys = [{ id: 'k1', key: crypto.randomBytes(32) }];
    const record = async (log: DeliveryLog, deliveryId: string) => {
      const statement = new Statement();
      log.attemptRecord({
        deliveryId, tenant: 'store', eventId: deliveryId, endpointId: 'ep_sealed', eventType: 'customer.created', budget: 'b0', attempt: 1,
        startedAt: new Date().toISOString(), durationMs: 12, statusCode: 500, error: 'HTTP 500', status: 'retrying', nextAttemptAt: null,
        responseExcerpt: 'no such customer: ada@example.com', responseHeaders: { 'content-type': 'text/plain' },
        request: { method: 'POST', url: 'https://receiver.example/hook', headers: { 'content-type': 'application/json' }, body: '{"email":"ada@example.com"}' },
      })(statement);
      await db.query(statement.sql(), statement.params);
    };
    const stored = async (deliveryId: string) => (await db.query<{ response_excerpt: string; request_excerpt: string }>(
      'SELECT response_excerpt, request_excerpt FROM delivery_attempts WHERE delivery_id = $1', [deliveryId]))[0]!;
    const shown = async (log: DeliveryLog, deliveryId: string) => {
      const [attempt] = (await log.get('store', deliveryId))!.attempts;
      return [attempt!.responseExcerpt, attempt!.request!.body];
    };
    const sealing = new DeliveryLog(db, keys);
    await record(sealing, 'delivery:sealed');
    for (const excerpt of Object.values(await stored('delivery:sealed'))) {
      assert.match(excerpt, /^herald-enc:v1:k1:/);
      assert.ok(!excerpt.includes('ada@example.com'));
    }
    assert.deepEqual(await shown(sealing, 'delivery:sealed'), ['no such customer: ada@example.com', '{"email":"ada@example.com"}']);
    // Written before keys were configured: plaintext, still read.
    await record(new DeliveryLog(db), 'delivery:plain');
    assert.deepEqual(await shown(sealing, 'delivery:plain'), ['no such customer: ada@example.com', '{"email":"ada@example.com"}']);
    // Another attempt's sealed excerpt copied into this row, or a key no longer configured: a note, not a failed read.
    await db.query('UPDATE delivery_attempts SET response_excerpt = $1 WHERE delivery_id = $2', [(await stored('delivery:sealed')).response_excerpt, 'delivery:plain']);
    assert.match(String((await shown(sealing, 'delivery:plain'))[0]), /^\[unreadable: attempt delivery:plain#1: its sealed response excerpt fails authentication/);
    assert.match(String((await shown(new DeliveryLog(db, [{ id: 'k2', key: crypto.randomBytes(32) }]), 'delivery:sealed'))[1]), /not among the configured keys/);
  });

  test('with keys, the auth secret is sealed at rest like the signing secret, never read back, in clear on the delivery path; plaintext rows are sealed at start', async () => {
    const keys = [{ id: 'k1', key: crypto.randomBytes(32) }];
    const sealing = new EndpointStore(db, { secretKeys: keys });
    const auth = { type: 'oauth2-client-credentials' as const, tokenUrl: 'https://auth.example/token', clientId: 'herald', clientSecret: 'CLIENT-SECRET-9a' };
    const storedAuth = async (endpointId: string) => (await db.query<{ auth: Record<string, string> }>('SELECT auth FROM endpoints WHERE id = $1', [endpointId]))[0]!.auth;

    const created = await sealing.create({ ...newEndpoint(generateSecret()), auth });
    assert.match((await storedAuth(created.id)).clientSecret!, /^herald-enc:v1:k1:/);
    assert.ok(!JSON.stringify(await storedAuth(created.id)).includes('CLIENT-SECRET'));
    assert.deepEqual(created.auth, { type: 'oauth2-client-credentials', tokenUrl: 'https://auth.example/token', clientId: 'herald' });
    assert.deepEqual((await sealing.get('store', created.id))!.auth, created.auth);
    assert.deepEqual((await sealing.forDelivery('store', created.id))!.auth, auth);
    await sealing.update('store', created.id, { auth: { type: 'basic', username: 'u', password: 'BASIC-PASSWORD-3c' } });
    assert.ok(!JSON.stringify(await storedAuth(created.id)).includes('BASIC-PASSWORD'));
    assert.deepEqual((await sealing.forDelivery('store', created.id))!.auth, { type: 'basic', username: 'u', password: 'BASIC-PASSWORD-3c' });

    // Written before keys were configured: sealed at start.
    const old = await new EndpointStore(db).create({ ...newEndpoint(generateSecret()), auth });
    assert.equal((await storedAuth(old.id)).clientSecret, 'CLIENT-SECRET-9a');
    assert.deepEqual((await sealing.sealStoredSecrets()).unreadable, []);
    assert.match((await storedAuth(old.id)).clientSecret!, /^herald-enc:v1:k1:/);
    assert.deepEqual((await new EndpointStore(db, { secretKeys: keys }).forDelivery('store', old.id))!.auth, auth);
  });

  test('with keys, static header values are sealed at rest like secrets; the delivery path has them in clear; plaintext rows are sealed at start', async () => {
    const keys = [{ id: 'k1', key: crypto.randomBytes(32) }];
    const plain = new EndpointStore(db);
    const sealing = new EndpointStore(db, { secretKeys: keys });
    const headers = { Authorization: 'Bearer RECEIVER-TOKEN-xyz', 'X-Region': 'eu-west' };
    const storedHeaders = async (endpointId: string) =>
      (await db.query<{ headers: Record<string, string> }>('SELECT headers FROM endpoints WHERE id = $1', [endpointId]))[0]!.headers;
    const inClear = (stored: Record<string, string>) => JSON.stringify(stored).includes('RECEIVER-TOKEN') || JSON.stringify(stored).includes('eu-west');

    const created = await sealing.create({ ...newEndpoint(generateSecret()), headers });
    assert.deepEqual(Object.keys(await storedHeaders(created.id)).sort(), ['Authorization', 'X-Region']);
    assert.ok(Object.values(await storedHeaders(created.id)).every((value) => value.startsWith('herald-enc:v1:k1:')));
    assert.ok(!inClear(await storedHeaders(created.id)));
    assert.deepEqual(created.headers, { Authorization: '********', 'X-Region': '********' });
    assert.deepEqual((await sealing.forDelivery('store', created.id))!.headers, headers);
    // A masked value sent back keeps the stored one; a changed one is sealed too.
    await sealing.update('store', created.id, { headers: { Authorization: '********', 'X-Region': 'us-east' } });
    assert.ok(!JSON.stringify(await storedHeaders(created.id)).includes('us-east'));
    assert.deepEqual((await sealing.forDelivery('store', created.id))!.headers, { Authorization: 'Bearer RECEIVER-TOKEN-xyz', 'X-Region': 'us-east' });

    // Written before keys were configured: still sent, and sealed at start.
    const old = await plain.create({ ...newEndpoint(generateSecret()), headers });
    assert.ok(inClear(await storedHeaders(old.id)));
    assert.deepEqual((await sealing.forDelivery('store', old.id))!.headers, headers);
    const { sealed, unreadable } = await sealing.sealStoredSecrets();
    assert.ok(sealed >= 1);
    assert.deepEqual(unreadable, []);
    assert.ok(!inClear(await storedHeaders(old.id)));
    assert.deepEqual((await new EndpointStore(db, { secretKeys: keys }).forDelivery('store', old.id))!.headers, headers);
  });

  test('an API key is stored as its SHA-256 digest only and authenticates until revoked', async () => {
    const tenants = new TenantStore(db);
    assert.ok(await tenants.create('keyed', 'Keyed'));
    assert.equal(await tenants.create('keyed', 'Again'), undefined);
    const issued = await tenants.issueKey('keyed', 'ci');

    const rows = await db.query('SELECT * FROM api_keys WHERE id = $1', [issued.id]);
    assert.equal(rows[0]!.key_sha256, crypto.createHash('sha256').update(issued.key).digest('hex'));
    assert.ok(!JSON.stringify(rows).includes(issued.key.slice(`hk_${issued.id}_`.length)));

    assert.deepEqual(await tenants.authenticate(issued.key), { id: issued.id, tenant: 'keyed', name: 'ci', prefix: issued.prefix, createdAt: issued.createdAt });
    const secretPart = issued.key.slice(`hk_${issued.id}_`.length);
    const otherSecret = crypto.randomBytes(32).toString('base64url');
    assert.equal(await tenants.authenticate(`hk_${issued.id}_${otherSecret}`), undefined);
    assert.equal(await tenants.authenticate(`hk_0000000000000000_${secretPart}`), undefined);
    assert.equal(await tenants.authenticate(issued.key.slice(0, -1)), undefined);
    assert.equal(await tenants.revokeKey('someone-else', issued.id), false);
    assert.equal(await tenants.revokeKey('keyed', issued.id), true);
    assert.equal(await tenants.authenticate(issued.key), undefined);
  });
});

// Embedded PGlite runs statements through Herald's own session (prepared once, one call each): it answers as PostgreSQL does.
for (const storage of storages) describe(`statements and transactions (${storage.name})`, () => {
  let db: Db;
  before(async () => {
    db = await storage.open();
  });
  after(async () => {
    await db?.close();
  });
  const tenantIds = async (prefix: string) => (await db.query<{ id: string }>('SELECT id FROM tenants WHERE id LIKE $1 ORDER BY id', [`${prefix}%`])).map((r) => r.id);

  test('values and results keep their types: JSON, timestamps, arrays, booleans, numbers and null', async () => {
    const at = new Date('2026-12-03T10:00:00.250Z');
    const [row] = await db.query('SELECT $1::jsonb AS json, $2::timestamptz AS at, $3::text[] AS tags, $4::boolean AS yes, $5::integer AS n, $6::text AS nothing',
      [{ order: { id: 7, items: ['a', 'b'] } }, at, ['x', 'y "z"'], true, 42, null]);
    assert.deepEqual(row, { json: { order: { id: 7, items: ['a', 'b'] } }, at, tags: ['x', 'y "z"'], yes: true, n: 42, nothing: null });
  });

  test('a failed statement rolls its transaction back, also when the work caught its error', async () => {
    await assert.rejects(db.transaction(async (tx) => {
      await tx.query("INSERT INTO tenants (id) VALUES ('tx-failed')");
      await tx.query("INSERT INTO tenants (id) VALUES ('tx-failed')");
    }), /duplicate key/);
    await db.transaction(async (tx) => {
      await tx.query("INSERT INTO tenants (id) VALUES ('tx-caught')");
      await tx.query("INSERT INTO tenants (id) VALUES ('tx-caught')").catch(() => undefined);
    }).catch(() => undefined);
    assert.deepEqual(await tenantIds('tx-'), []);
  });

  test('a statement sent while a transaction is open never runs inside it', async () => {
    let sent!: () => void;
    const outsideSent = new Promise<void>((resolve) => (sent = resolve));
    const transaction = db.transaction(async (tx) => {
      await tx.query("INSERT INTO tenants (id) VALUES ('open-inside')");
      await outsideSent;
      throw new Error('rolled back on purpose');
    });
    const outside = db.query("INSERT INTO tenants (id) VALUES ('open-outside')");
    sent();
    await assert.rejects(transaction, /rolled back on purpose/);
    await outside;
    assert.deepEqual(await tenantIds('open-'), ['open-outside']);
  });

  test('a statement run before its table gained a column answers with the new column', async () => {
    await db.query('CREATE TABLE scratch_columns (id integer)');
    await db.query('INSERT INTO scratch_columns VALUES (1)');
    assert.deepEqual(await db.query('SELECT * FROM scratch_columns'), [{ id: 1 }]);
    await db.query("ALTER TABLE scratch_columns ADD COLUMN name text NOT NULL DEFAULT 'one'");
    assert.deepEqual(await db.query('SELECT * FROM scratch_columns'), [{ id: 1, name: 'one' }]);
  });

  test('hundreds of different statements all answer, again when repeated', async () => {
    const distinct = Array.from({ length: 250 }, (_, i) => `SELECT $1::integer + ${i} AS n`);
    for (const round of [1, 2]) {
      const answers = [];
      for (const sql of distinct) answers.push((await db.query<{ n: number }>(sql, [round]))[0]!.n);
      assert.deepEqual(answers, distinct.map((_, i) => i + round));
    }
  });
});

describe('migrations on PostgreSQL', () => {
  test('processes starting at once on an empty database all start, and the schema is applied once', async () => {
    const databaseUrl = await newPostgresDatabase('racing_starts');
    const starts = await Promise.allSettled(Array.from({ length: 8 }, () => openDb({ databaseUrl, dataDir: 'unused' })));
    const dbs = starts.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    try {
      assert.deepEqual(starts.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason)), []);
      const versions = await dbs[0]!.query<{ version: number }>('SELECT version FROM herald_migrations ORDER BY version');
      assert.deepEqual(versions.map((v) => v.version), migrations.map((_, i) => i + 1));
      assert.deepEqual(await dbs[0]!.query('SELECT id FROM tenants'), [{ id: 'default' }]);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });
});

describe('PostgreSQL connections', () => {
  test('connections the server drops while idle end no process: the pool replaces them', async () => {
    const databaseUrl = await newPostgresDatabase('dropped_connections');
    const db = await openDb({ databaseUrl, dataDir: 'unused' });
    const admin = await openDb({ databaseUrl, dataDir: 'unused' });
    try {
      await Promise.all([db.query('SELECT 1'), db.query('SELECT 1')]);
      const dropped = await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      assert.ok(dropped.length >= 2);
      // A query racing the drop may still fail; the process lives on and the pool reconnects.
      const answer = await eventually(() => db.query('SELECT 1 AS up').catch((err) => [{ err: String(err) }]), (rows) => 'up' in rows[0]!);
      assert.deepEqual(answer, [{ up: 1 }]);
    } finally {
      await db.close();
      await admin.close();
    }
  });
});

describe('the embedded data directory', () => {
  test('is created readable by its owner only (0700), parents included', async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-datadir-'));
    const dataDir = path.join(parent, 'new', 'data');
    const db = await openDb({ dataDir });
    try {
      for (const dir of [path.join(parent, 'new'), dataDir, path.join(dataDir, 'pglite')]) {
        assert.equal(fs.statSync(dir).mode & 0o777, 0o700, dir);
      }
    } finally {
      await db.close();
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });
});

test('the embedded database reclaims updated and deleted rows when maintained (PGlite runs no autovacuum)', async () => {
  const db = await openTestMemoryDb();
  try {
    const deadRows = async () => {
      await db.query('SELECT pg_stat_force_next_flush()'); // counters reach the view once flushed, at most once a second otherwise
      return Number((await db.query<{ n: string }>("SELECT n_dead_tup AS n FROM pg_stat_user_tables WHERE relname = 'deliveries'"))[0]!.n);
    };
    await db.query(`INSERT INTO deliveries (id, tenant, event_id, endpoint_id, event_type, status)
      SELECT 'd' || g, 'store', 'e' || g, 'ep', 'order.paid', 'pending' FROM generate_series(1, 500) AS g`);
    for (let i = 0; i < 4; i++) await db.query(`UPDATE deliveries SET status = 'retrying', updated_at = now()`);
    await db.query(`DELETE FROM deliveries WHERE id LIKE 'd1%'`);
    assert.ok(await deadRows() >= 2000, "dead rows left behind: nothing vacuums in single-user mode");
    await db.maintain();
    assert.equal(await deadRows(), 0);
  } finally {
    await db.close();
  }
});
