import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { MAX_JSON_DEPTH } from '../../src/api/body.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { rawRequest, type RawResponse } from '../support/rawHttp.ts';

const ADMIN_KEY = 'fuzz-admin-key-0123456789';
const MAX_BODY_BYTES = 1_048_576;
const RUNS_PER_ROUTE = 200;

type JsonType = 'string' | 'number' | 'boolean' | 'null' | 'array' | 'object';
const jsonType = (value: unknown): JsonType =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : (typeof value as 'string' | 'number' | 'boolean' | 'object');

/** A write route, a body close to valid for it, and the JSON types each of its fields accepts. */
interface WriteRoute {
  method: string;
  path: string;
  base: Record<string, unknown>;
  fields: Record<string, JsonType[]>;
}

/** One bad request: a body defect that alone makes it invalid, plus hostile headers on top. */
interface BadInput {
  defect: string;
  contentType: string;
  body: Buffer;
  headers: [string, string][];
  authorized: boolean;
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const printable = fc.string({ minLength: 1, maxLength: 20, unit: fc.constantFrom(...'abcXYZ019-_.:;/=+ '.split('')) });

/** Header values no well-behaved client sends: line breaks, NUL and DEL, 10 kB. */
const hostileHeaderValue = fc.oneof(
  fc.tuple(printable, fc.constantFrom('\r\n', '\r', '\n', '\0', '\x7f', '\r\nX-Injected: 1\r\n'), printable).map((parts) => parts.join('')),
  fc.constant('k'.repeat(10_240)),
  fc.string({ maxLength: 40 }).filter((s) => !/[\r\n]/.test(s)),
);

const garbageAuthorization = fc.oneof(
  fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', `Bearer ${ADMIN_KEY}x`, `bearer  ${ADMIN_KEY}`, 'Bearer hk_', 'Bearer hk_\u00ff'),
  printable.map((s) => `Bearer hk_${s}`),
  hostileHeaderValue.filter((value) => value.trim() !== ''),
);

const oddContentType = fc.constantFrom(
  'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1',
  'application/json; charset=utf-16', 'application/xml', '*/*', 'application/', ';;;', '',
);

function badInputs(route: WriteRoute): fc.Arbitrary<BadInput> {
  const known = Object.keys(route.fields);
  const withBody = (defect: string, body: Buffer, contentType = 'application/json') => ({ defect, body, contentType });
  const defects = fc.oneof(
    // Text that is not JSON, or JSON that is not an object or array (the parser is strict).
    fc.oneof(fc.string({ minLength: 1 }), fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1)), fc.jsonValue().map((v) => `${JSON.stringify(v)}}`))
      .filter((text) => text.trim() !== '' && !isObjectOrArrayJson(text))
      .map((text) => withBody('malformed JSON', Buffer.from(text))),
    // A field the route knows, with a value of a type it does not accept.
    ...(known.length
      ? [fc.tuple(fc.constantFrom(...known), fc.jsonValue())
          .filter(([field, value]) => !route.fields[field]!.includes(jsonType(value)))
          .map(([field, value]) => withBody(`wrong type for ${field}`, json({ ...route.base, [field]: value })))]
      : []),
    // A field the route does not know.
    fc.tuple(fc.oneof(fc.string({ minLength: 1 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'ID', 'Url')), fc.jsonValue())
      .filter(([field]) => !known.includes(field))
      .map(([field, value]) => withBody(`unknown field ${JSON.stringify(field)}`, Buffer.from(`${JSON.stringify(route.base).slice(0, -1)}${Object.keys(route.base).length ? ',' : ''}${JSON.stringify(field)}:${JSON.stringify(value)}}`))),
    // Larger than the limit, whatever it holds.
    fc.integer({ min: 1, max: 4096 }).map((extra) => withBody('huge body', json({ ...route.base, padding: 'x'.repeat(MAX_BODY_BYTES + extra) }))),
    // Nesting deeper than the parser allows, in a field every route would otherwise read or ignore.
    fc.integer({ min: MAX_JSON_DEPTH, max: 100_000 }).map((depth) =>
      withBody(`nested ${depth} deep`, Buffer.from(`${JSON.stringify({ ...route.base, data: null }).slice(0, -5)}${'['.repeat(depth)}${']'.repeat(depth)}}`))),
    // Bytes that are not UTF-8 inside an otherwise valid body.
    fc.tuple(fc.constantFrom(0xc0, 0xff, 0xfe, 0x80, 0xed, 0xf8), fc.uint8Array({ maxLength: 8 }))
      .map(([lead, rest]) => Buffer.from([lead, ...rest]))
      // A quote or backslash would end or escape the string early: then it is a different defect.
      .filter((bytes) => !bytes.includes(0x22) && !bytes.includes(0x5c))
      .map((bytes) => withBody('invalid UTF-8', Buffer.concat([Buffer.from(`${JSON.stringify({ ...route.base, data: null }).slice(0, -5)}"`), bytes, Buffer.from('"}')]))),
    // A valid-looking body under a media type that is not JSON.
    oddContentType.map((contentType) => withBody(`content-type ${JSON.stringify(contentType)}`, json(route.base), contentType)),
  );
  return fc.record({
    defect: defects,
    authorization: fc.option(garbageAuthorization, { freq: 4 }),
    idempotencyKey: fc.option(hostileHeaderValue, { freq: 2 }),
    extraContentType: fc.boolean(),
  }).map(({ defect, authorization, idempotencyKey }) => ({
    defect: defect.defect,
    contentType: defect.contentType,
    body: defect.body,
    authorized: authorization === null,
    headers: [
      ['authorization', authorization ?? `Bearer ${ADMIN_KEY}`],
      ...(defect.contentType ? [['content-type', defect.contentType] as [string, string]] : []),
      ...(idempotencyKey === null ? [] : [['idempotency-key', idempotencyKey] as [string, string]]),
    ],
  }));
}

function isObjectOrArrayJson(text: string): boolean {
  try {
    const value = JSON.parse(text);
    return typeof value === 'object' && value !== null;
  } catch {
    return false;
  }
}

describe('bad input at every write route', () => {
  let herald: TestHerald;
  let routes: WriteRoute[];
  before(async () => {
    herald = await startTestHerald({ HERALD_API_KEY: ADMIN_KEY });
    const admin = { authorization: `Bearer ${ADMIN_KEY}` };
    assert.equal((await herald.api('POST', '/v1/tenants', { id: 'fuzz' }, admin)).status, 201);
    const endpoint = await herald.api('POST', '/v1/endpoints', { url: 'https://hooks.example/in', tenant: 'fuzz' }, admin);
    assert.equal(endpoint.status, 201);
    assert.equal((await herald.api('POST', '/v1/event-types', { name: 'fuzz.declared', tenant: 'fuzz' }, admin)).status, 201);
    const id = endpoint.body.id as string;
    const endpointFields: Record<string, JsonType[]> = {
      url: ['string'], eventTypes: ['array'], description: ['string'], retryPolicy: ['string', 'object'], timeoutMs: ['number'],
      format: ['string'], signature: ['object'], headers: ['object'], enabled: ['boolean'], sourceApp: ['string'],
    };
    routes = [
      { method: 'POST', path: '/v1/events', base: { type: 'order.submitted', tenant: 'fuzz' },
        fields: { id: ['string'], type: ['string'], data: ['string', 'number', 'boolean', 'null', 'array', 'object'], tenant: ['string'], occurredAt: ['string'] } },
      { method: 'POST', path: '/v1/endpoints', base: { url: 'https://hooks.example/new', tenant: 'fuzz' },
        fields: { ...endpointFields, secret: ['string'], tenant: ['string'] } },
      { method: 'PATCH', path: `/v1/endpoints/${id}?tenant=fuzz`, base: { description: 'patched' }, fields: endpointFields },
      { method: 'POST', path: `/v1/endpoints/${id}/rotate-secret?tenant=fuzz`, base: { gracePeriod: '1h' }, fields: { gracePeriod: ['string'], secret: ['string'] } },
      // No such delivery: the body is not read, so the answer is 400 (unparseable) or 404.
      { method: 'POST', path: `/v1/deliveries/${encodeURIComponent(`delivery:fuzz:none:${id}`)}/replay`, base: {}, fields: {} },
      { method: 'POST', path: `/v1/endpoints/${id}/recover`, base: { since: new Date().toISOString(), tenant: 'fuzz' }, fields: { since: ['string'], tenant: ['string'] } },
      { method: 'POST', path: '/v1/event-types', base: { name: 'fuzz.new', tenant: 'fuzz' },
        fields: { name: ['string'], description: ['string'], schema: ['object', 'null'], tenant: ['string'] } },
      { method: 'PUT', path: '/v1/event-types/fuzz.declared', base: { tenant: 'fuzz' }, fields: { description: ['string'], schema: ['object', 'null'], tenant: ['string'] } },
      { method: 'POST', path: '/v1/tenants', base: { id: 'fuzz-new' }, fields: { id: ['string'], name: ['string'] } },
      { method: 'POST', path: '/v1/tenants/fuzz/keys', base: { name: 'fuzzed' }, fields: { name: ['string'] } },
    ];
  });
  after(() => herald?.stop());

  /** Everything a bad request could have left behind, read through the API and Temporal. */
  async function storedState() {
    const admin = { authorization: `Bearer ${ADMIN_KEY}` };
    const read = async (route: string) => (await herald.api('GET', route, undefined, admin)).body;
    return {
      endpoints: [await read('/v1/endpoints?tenant=default&limit=200'), await read('/v1/endpoints?tenant=fuzz&limit=200')],
      tenants: await read('/v1/tenants?limit=200'),
      keys: await read('/v1/tenants/fuzz/keys'),
      eventTypes: [await read('/v1/event-types?tenant=default&limit=200'), await read('/v1/event-types?tenant=fuzz&limit=200')],
      workflows: (await herald.client.workflow.count()).count,
    };
  }

  test('every bad input answers a 4xx problem+json, the process stays up, and nothing is stored', async (t) => {
    const before = await storedState();
    let tried = 0;
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(badInputs(route), async (input) => {
          tried++;
          let response: RawResponse;
          try {
            response = await rawRequest(herald.apiUrl, { method: route.method, path: route.path, headers: input.headers, body: input.body });
          } catch (err) {
            throw new Error(`${route.method} ${route.path} with ${input.defect}: ${(err as Error).message}`);
          }
          const context = `${route.method} ${route.path} with ${input.defect} → ${response.status} ${response.body.slice(0, 300)}`;
          assert.ok(response.status >= 400 && response.status < 500, context);
          assert.match(response.headers['content-type'] ?? '', /^application\/problem\+json/, context);
        }),
        { numRuns: RUNS_PER_ROUTE, includeErrorInReport: true },
      );
      assert.equal((await herald.api('GET', '/healthz')).status, 200, `after ${route.method} ${route.path}`);
    }
    assert.deepEqual(await storedState(), before);
    t.diagnostic(`${tried} bad inputs tried across ${routes.length} write routes`);
    console.log(`fuzz: ${tried} bad inputs tried across ${routes.length} write routes`);
  });
});
