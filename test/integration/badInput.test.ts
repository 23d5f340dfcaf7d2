import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN_KEY, fuzzHerald } from '../fuzz/suites.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';

// CI's slice of `npm run fuzz` (test/fuzz/run.ts): the same suites, fewer runs.
let herald: TestHerald;
before(async () => {
  herald = await startTestHerald({ HERALD_API_KEY: ADMIN_KEY });
});
after(() => herald?.stop());

test('bad bodies, parameters, JSON Schemas, header sets and transforms: every answer is a quick 4xx problem+json, nothing bad is stored', async (t) => {
  const runs = { perWriteRoute: 100, perParameterRoute: 20, schemas: 60, headerSets: 60, transforms: 20, runawayTransforms: 10, fanningSchemas: 10, blockingSchemas: 10 };
  const counts = await fuzzHerald(herald, runs, (line) => t.diagnostic(line));
  t.diagnostic(`fuzz: ${counts.reduce((sum, c) => sum + c.requests, 0)} requests in ${counts.length} suites`);
  assert.deepEqual(counts.filter((c) => c.failure).map((c) => `${c.suite}: ${c.failure}`), []);
});

// Found by the fuzzer; each answered 500 before.
test('a NUL character where storage cannot hold it is a 400, in a path parameter or in a stored field', async () => {
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  for (const route of ['/v1/endpoints/%00/test', '/v1/endpoints/%00']) {
    const answer = await herald.api(route.endsWith('test') ? 'POST' : 'GET', route, undefined, admin);
    assert.equal(answer.status, 400, route);
    assert.equal(answer.body.errors[0].field, 'id');
  }
  const nulHeader = await herald.api('POST', '/v1/endpoints', { url: 'https://hooks.example/nul', headers: { Authorization: '\u0000' } }, admin);
  assert.equal(nulHeader.status, 400);
  assert.match(JSON.stringify(nulHeader.body.errors), /NUL/);
  const nulSchema = await herald.api('POST', '/v1/event-types', { name: 'nul.schema', schema: { description: 'a\u0000b' } }, admin);
  assert.equal(nulSchema.status, 400);
});

test('an event type whose schema refers to itself without end refuses the event with a 400', async () => {
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  assert.equal((await herald.api('POST', '/v1/event-types', { name: 'self.ref', schema: { $ref: '#' } }, admin)).status, 201);
  const ingest = await herald.api('POST', '/v1/events', { type: 'self.ref', data: {} }, admin);
  assert.equal(ingest.status, 400);
  assert.deepEqual(ingest.body.errors, [{ field: 'type', message: 'the schema declared for "self.ref" cannot be evaluated: it refers to itself without end' }]);
});

test('a lone surrogate escaped in JSON is a 400 naming where it is', async () => {
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  // JSON.stringify escapes a lone surrogate as \ud800, which JSON.parse reads back as one.
  const loneHeader = await herald.api('POST', '/v1/endpoints', { url: 'https://hooks.example/lone', headers: { A: '\ud800' } }, admin);
  assert.equal(loneHeader.status, 400);
  assert.equal(loneHeader.body.errors[0].field, 'headers.A');
  const loneKey = await herald.api('POST', '/v1/events', { type: 'order.submitted', data: { ['\udc00']: 1 } }, admin);
  assert.equal(loneKey.status, 400);
  assert.equal(loneKey.body.errors[0].field, 'data');
  const paired = await herald.api('POST', '/v1/events', { type: 'order.submitted', data: { emoji: '\ud83d\ude00' } }, admin);
  assert.equal(paired.status, 202, 'a surrogate pair is one character');
});

test('a schema too large to compile quickly is a 400 naming schema, answered at once', async () => {
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  const properties = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`p${i}`, { type: 'string', minLength: 1 }]));
  const started = performance.now();
  const answer = await herald.api('PUT', '/v1/event-types/huge.schema', { schema: { type: 'object', properties } }, admin);
  assert.ok(performance.now() - started < 1_000);
  assert.equal(answer.status, 400);
  assert.equal(answer.body.errors[0].field, 'schema');
  assert.match(answer.body.errors[0].message, /too large: more than 2000 values/);
});

// Found by the portal's browser test: a URL that did not parse threw inside the credentials check, a 500.
test('an endpoint URL or token URL that does not parse is a 400 naming it', async () => {
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  const badUrl = await herald.api('POST', '/v1/endpoints', { url: 'hooks.example/no-scheme' }, admin);
  assert.equal(badUrl.status, 400, JSON.stringify(badUrl.body));
  assert.deepEqual(badUrl.body.errors, [{ field: 'url', message: 'an http or https URL' }]);
  const auth = { type: 'oauth2-client-credentials', tokenUrl: 'tokens.example/oauth/token', clientId: 'herald', clientSecret: 'secret' };
  const badTokenUrl = await herald.api('POST', '/v1/endpoints', { url: 'https://hooks.example/ok', auth }, admin);
  assert.equal(badTokenUrl.status, 400, JSON.stringify(badTokenUrl.body));
  assert.deepEqual(badTokenUrl.body.errors, [{ field: 'auth.tokenUrl', message: 'an http or https URL' }]);
});
