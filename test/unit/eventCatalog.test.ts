import assert from 'node:assert/strict';
import { after, before, describe, mock, test } from 'node:test';
import { EventCatalog } from '../../src/eventCatalog.ts';
import type { Db } from '../../src/storage/db.ts';
import { EventTypeStore } from '../../src/storage/eventTypes.ts';
import { openTestMemoryDb } from '../support/suiteSetup.ts';

const orderSchema = {
  type: 'object',
  required: ['total', 'items'],
  additionalProperties: false,
  properties: {
    total: { type: 'number', minimum: 0 },
    items: { type: 'array', items: { type: 'object', required: ['sku'], properties: { sku: { type: 'string' }, 'unit/price': { type: 'number' } } } },
    email: { type: 'string', format: 'email' },
  },
};

describe('event catalog', () => {
  let db: Db;
  let store: EventTypeStore;
  let lenient: EventCatalog;
  let strict: EventCatalog;
  before(async () => {
    db = await openTestMemoryDb();
    store = new EventTypeStore(db);
    lenient = new EventCatalog(store, { strict: false });
    strict = new EventCatalog(store, { strict: true });
    await store.create({ tenant: 'shop', name: 'order.submitted', description: '', schema: orderSchema });
    await store.create({ tenant: 'shop', name: 'order.noted', description: 'any data', schema: null });
  });
  after(() => db?.close());

  test('data that meets the declared schema passes', async () => {
    assert.deepEqual(await lenient.check('shop', 'order.submitted', { total: 42, items: [{ sku: 'a-1' }], email: 'a@example.com' }), []);
  });

  test('each failure names its path under data', async () => {
    const errors = await lenient.check('shop', 'order.submitted', { total: -1, items: [{ 'unit/price': 'free' }], email: 'nope', colour: 'red' });
    assert.deepEqual(errors.map((e) => e.field).sort(), ['data.colour', 'data.email', 'data.items.0.sku', 'data.items.0.unit/price', 'data.total']);
    assert.deepEqual(errors.find((e) => e.field === 'data.total'), { field: 'data.total', message: 'must be >= 0' });
    assert.deepEqual(await lenient.check('shop', 'order.submitted', 'not an object'), [{ field: 'data', message: 'must be object' }]);
  });

  test('undeclared types pass unless strict; a type declared without a schema takes any data', async () => {
    assert.deepEqual(await lenient.check('shop', 'order.unknown', { anything: true }), []);
    assert.deepEqual(await strict.check('shop', 'order.unknown', {}), [{ field: 'type', message: '"order.unknown" is not a declared event type' }]);
    assert.deepEqual(await strict.check('shop', 'order.noted', [1, 2, 3]), []);
    assert.deepEqual(await strict.check('other-tenant', 'order.submitted', {}), [{ field: 'type', message: '"order.submitted" is not a declared event type' }]);
  });

  test('a redeclared schema applies from the next check, $id and all', async () => {
    const withId = { $id: 'https://schemas.example/order-v1', type: 'object', required: ['total'] };
    await store.put({ tenant: 'shop', name: 'order.v', description: '', schema: withId });
    assert.deepEqual(await lenient.check('shop', 'order.v', { total: 1 }), []);
    await store.put({ tenant: 'shop', name: 'order.v', description: '', schema: { ...withId, required: ['currency'] } });
    assert.deepEqual(await lenient.check('shop', 'order.v', { total: 1 }), [{ field: 'data.currency', message: "must have required property 'currency'" }]);
  });

  test('an unusable schema is reported, a usable one is not', async () => {
    assert.match(await lenient.schemaError({ type: 'nonsense' }) ?? '', /schema is invalid/);
    assert.equal(await lenient.schemaError(orderSchema), undefined);
  });

  test('a tenant pattern cannot stall ingest: "^(a+)+$" against a long hostile value answers at once', async () => {
    const hostile = { type: 'object', properties: { code: { type: 'string', pattern: '^(a+)+$' } }, patternProperties: { '^(x+x+)+y$': { type: 'number' } } };
    await store.create({ tenant: 'shop', name: 'order.hostile', description: '', schema: hostile });
    // On a backtracking engine each extra character doubles the time: 30 took over 10 s.
    const started = performance.now();
    const errors = await lenient.check('shop', 'order.hostile', { code: `${'a'.repeat(30)}!`, [`${'x'.repeat(30)}`]: 'not a number' });
    const elapsedMs = performance.now() - started;
    assert.deepEqual(errors.map((e) => e.field), ['data.code']);
    assert.deepEqual(await lenient.check('shop', 'order.hostile', { code: 'aaaa' }), []);
    assert.ok(elapsedMs < 2_000, `checking took ${elapsedMs.toFixed(0)} ms of CPU`);
  });

  test('a pattern the linear-time engine cannot run is refused when declared', async () => {
    assert.match(await lenient.schemaError({ type: 'string', pattern: '^(?=a)a$' }) ?? '', /not supported/);
    assert.match(await lenient.schemaError({ type: 'string', pattern: '^(?<x>a)\\k<x>$' }) ?? '', /backreferences/);
    assert.match(await lenient.schemaError({ type: 'object', patternProperties: { '(a)\\1': {} } }) ?? '', /not supported/);
    assert.equal(await lenient.schemaError({ type: 'string', pattern: '^[\\p{L} -]+$' }), undefined);
  });

  // Found by `npm run fuzz`: 5,000 properties took Ajv about 6 s to compile, with the event loop blocked.
  test('a schema too large to compile quickly is refused when declared, before compiling', async () => {
    const huge = { type: 'object', properties: Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`p${i}`, { type: 'string', minLength: 1 }])) };
    const started = performance.now();
    assert.match(await lenient.schemaError(huge) ?? '', /too large: more than 2000 values/);
    assert.ok(performance.now() - started < 100, 'refused without compiling');
    const large = { type: 'object', properties: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`p${i}`, { type: 'string', minLength: 1 }])) };
    assert.equal(await lenient.schemaError(large), undefined, '300 properties with two keywords each are fine');
  });

  // Found by `npm run fuzz`: Ajv compares every pair, so 20,000 objects took about 33 s to check. Now a
  // check also has a 500 ms deadline: 5,000 objects compared pairwise (2 s) would be stopped by it.
  test('uniqueItems over a long array is checked in linear time, with JSON equality', async () => {
    await store.create({ tenant: 'shop', name: 'order.unique', description: '', schema: { type: 'array', uniqueItems: true } });
    const distinct = Array.from({ length: 5_000 }, (_, i) => ({ i, tags: [i % 7] }));
    const started = performance.now();
    assert.deepEqual(await lenient.check('shop', 'order.unique', distinct), []);
    const elapsedMs = performance.now() - started;
    assert.ok(elapsedMs < 1_000, `checking took ${elapsedMs.toFixed(0)} ms of CPU`);
    // Objects are equal whatever the order of their properties; 1 and 1.0 are one number.
    assert.deepEqual(await lenient.check('shop', 'order.unique', [{ a: 1, b: [2] }, 'x', { b: [2], a: 1.0 }]), [
      { field: 'data', message: 'must NOT have duplicate items (items ## 0 and 2 are identical)' },
    ]);
    assert.deepEqual(await lenient.check('shop', 'order.unique', [[1, 2], [2, 1], '1', 1, null, false, 0]), []);
  });

  test("Ajv's warnings (an unknown format) never reach Herald's output", async () => {
    const warn = mock.method(console, 'warn');
    const log = mock.method(console, 'log');
    try {
      assert.equal(await lenient.schemaError({ type: 'string', format: 'no-such-format' }), undefined, 'unknown formats are annotations, as JSON Schema says');
      assert.equal(warn.mock.callCount() + log.mock.callCount(), 0);
    } finally {
      warn.mock.restore();
      log.mock.restore();
    }
  });

  // A 1 MiB body holds half a million items: naming each failing one took 1.4 s and a 26 MB answer.
  // 100,000 keep the check itself well inside its 500 ms deadline on a loaded machine.
  test('a long array of failing items reports the first 100 failures and how many more, quickly', async () => {
    await store.create({ tenant: 'shop', name: 'order.lines', description: '', schema: { type: 'array', items: { type: 'string' } } });
    const data = Array.from({ length: 100_000 }, () => 1);
    // CPU time (every thread's), not wall time: test files run side by side, and a busy machine must not fail this.
    const started = process.cpuUsage();
    const errors = await lenient.check('shop', 'order.lines', data);
    const { user, system } = process.cpuUsage(started);
    const elapsedMs = (user + system) / 1000;
    assert.equal(errors.length, 101);
    assert.deepEqual(errors[0], { field: 'data.0', message: 'must be string' });
    assert.deepEqual(errors.at(-1), { field: 'data', message: '99900 more failures not listed' });
    assert.ok(elapsedMs < 1_000, `checking took ${elapsedMs.toFixed(0)} ms of CPU`);
  });
});
