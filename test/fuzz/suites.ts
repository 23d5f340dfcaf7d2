/**
 * Generated bad input against a running Herald, in suites that `npm run fuzz` runs at depth
 * (test/fuzz/run.ts) and test/integration/badInput.test.ts runs as CI's faster slice. Every
 * answer must be a 4xx problem+json (or a success, where a generated input happens to be valid),
 * never a 5xx, a hang or a dropped connection, and must come back quickly: requests go one at a
 * time, so a slow answer is the event loop blocked by what was sent.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { MAX_JSON_DEPTH } from '../../src/api/body.ts';
import { apiRoutes } from '../../src/api/openapi.ts';
import type { RouteDescription } from '../../src/api/route.ts';
import type { TestHerald } from '../support/herald.ts';
import { rawRequest, type RawResponse } from '../support/rawHttp.ts';

export const ADMIN_KEY = 'fuzz-admin-key-0123456789';
const MAX_BODY_BYTES = 1_048_576;
/** An answer slower than this means the request blocked Herald (nothing here waits on Temporal for long). */
export const SLOW_ANSWER_MS = 2_000;

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

/** One request as the fuzzer sends it, and what it was meant to break. */
interface Attempt {
  defect: string;
  method: string;
  path: string;
  headers: [string, string][];
  body?: Buffer;
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

const admin = (): [string, string] => ['authorization', `Bearer ${ADMIN_KEY}`];

function isObjectOrArrayJson(text: string): boolean {
  try {
    const value = JSON.parse(text);
    return typeof value === 'object' && value !== null;
  } catch {
    return false;
  }
}

/** A body defect that alone makes a write route's request invalid, plus hostile headers on top. */
function badBodies(route: WriteRoute): fc.Arbitrary<Attempt> {
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
      // A quote or backslash would end or escape the string early: then it is a different defect. Some draws
      // (0xed 0x80 0x80 is U+D000) are valid UTF-8 after all: those are no defect.
      .filter((bytes) => !bytes.includes(0x22) && !bytes.includes(0x5c) && !isUtf8(bytes))
      .map((bytes) => withBody('invalid UTF-8', Buffer.concat([Buffer.from(`${JSON.stringify({ ...route.base, data: null }).slice(0, -5)}"`), bytes, Buffer.from('"}')]))),
    // A valid-looking body under a media type that is not JSON.
    oddContentType.map((contentType) => withBody(`content-type ${JSON.stringify(contentType)}`, json(route.base), contentType)),
  );
  return fc.record({
    defect: defects,
    authorization: fc.option(garbageAuthorization, { freq: 4 }),
    idempotencyKey: fc.option(hostileHeaderValue, { freq: 2 }),
  }).map(({ defect, authorization, idempotencyKey }) => ({
    defect: defect.defect,
    method: route.method,
    path: route.path,
    body: defect.body,
    headers: [
      ['authorization', authorization ?? `Bearer ${ADMIN_KEY}`],
      ...(defect.contentType ? [['content-type', defect.contentType] as [string, string]] : []),
      ...(idempotencyKey === null ? [] : [['idempotency-key', idempotencyKey] as [string, string]]),
    ],
  }));
}

/** Path segments and query values no client should send: traversal, encodings, control bytes, separators, 10 kB. */
const hostileSegment = fc.oneof(
  fc.constantFrom('..', '.', '%2e%2e', '%2F', '%00', '%', '%zz', '%ff%fe', '%C0%AF', ':', 'delivery:a:b', 'delivery:%00:x:y', '*', '~', '%20', '%0d%0aX-Injected:%201'),
  fc.string({ minLength: 1, maxLength: 64 }).map(encodeURIComponent),
  fc.string({ minLength: 1, maxLength: 16, unit: 'binary' }).map(encodeURIComponent),
  fc.integer({ min: 129, max: 10_000 }).map((n) => 'a'.repeat(n)),
  fc.constantFrom('[]', '%5B%5D', 'a[b]=c', 'a&b', '__proto__', 'constructor', '-1', '1e309', 'NaN', '0x10', ' 1'),
);

/** Every route of the API description with hostile path parameters and query strings, known names and unknown. */
function badParameters(route: RouteDescription): fc.Arbitrary<Attempt> {
  const pathNames = [...route.path.matchAll(/:(\w+)/g)].map((match) => match[1]!);
  const queryNames = Object.keys(route.query?.shape ?? {});
  const queryName = fc.oneof(
    ...(queryNames.length ? [fc.constantFrom(...queryNames)] : []),
    fc.constantFrom('tenant', 'limit', 'after', 'since', 'status', '__proto__', 'limit[]', 'tenant[a]', ''),
    fc.string({ maxLength: 12 }).map(encodeURIComponent),
  );
  const query = fc.array(fc.tuple(queryName, hostileSegment), { maxLength: 4 })
    .map((pairs) => (pairs.length ? `?${pairs.map(([name, value]) => `${name}=${value}`).join('&')}` : ''));
  return fc.record({
    segments: fc.array(hostileSegment, { minLength: pathNames.length, maxLength: pathNames.length }),
    query,
    authorized: fc.boolean(),
  }).map(({ segments, query: search, authorized }) => {
    let path = route.path;
    pathNames.forEach((name, i) => void (path = path.replace(`:${name}`, segments[i]!)));
    const hasBody = route.method !== 'get' && route.method !== 'delete';
    return {
      defect: `parameters ${JSON.stringify(segments)} ${JSON.stringify(search).slice(0, 80)}`,
      method: route.method.toUpperCase(),
      path: `${path}${search}`,
      headers: [
        authorized ? admin() : ['authorization', `Bearer hk_${'x'.repeat(20)}`],
        ...(hasBody ? [['content-type', 'application/json'] as [string, string]] : []),
      ],
      body: hasBody ? json({}) : undefined,
    };
  });
}

/**
 * Regular expressions with catastrophic backtracking on V8, each with a value that keeps it busy
 * for seconds (measured on a loaded 2-core machine; one more character doubles it or more).
 */
const catastrophicPatterns: [pattern: string, value: string][] = [
  ['^(a+)+$', `${'a'.repeat(25)}!`],
  ['^(a|aa)+$', `${'a'.repeat(35)}!`],
  ['^(\\w+\\s?)*$', `${'word '.repeat(7)}word!`],
  ['(x+x+)+y', 'x'.repeat(25)],
  ['^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$', `${'a'.repeat(28)}!`],
];

type HostileSchema = { name: string; schema: unknown; data: unknown };

/**
 * Schemas that blocked Herald's event loop before issue 13 item 2: tenant regular expressions that
 * backtrack catastrophically on V8 (now run on RE2), and schemas whose compiling or checking cost
 * seconds on Ajv (found by this fuzzer: 5,000 properties compiled in about 6 s, now refused over
 * 2,000 values; uniqueItems over 20,000 objects checked in 33 s, growing with the square of the
 * count, now linear).
 */
const blockingSchema: fc.Arbitrary<HostileSchema> = fc.oneof(
  fc.constantFrom(...catastrophicPatterns).chain(([pattern, value]) => fc.constantFrom(
    { name: `pattern ${pattern}`, schema: { type: 'object', properties: { v: { type: 'string', pattern } } }, data: { v: value } },
    { name: `patternProperties ${pattern}`, schema: { type: 'object', patternProperties: { [pattern]: { type: 'string' } } }, data: { [value]: 'x' } },
    { name: `propertyNames ${pattern}`, schema: { type: 'object', propertyNames: { pattern } }, data: { [value]: 1 } },
    { name: `format regex ${pattern}`, schema: { type: 'string', format: 'regex' }, data: pattern },
  )),
  fc.constantFrom(
    { name: 'uniqueItems over many objects', schema: { type: 'array', uniqueItems: true }, data: Array.from({ length: 8_000 }, (_, i) => ({ i })) },
    { name: 'uniqueItems over many numbers', schema: { type: 'array', uniqueItems: true }, data: Array.from({ length: 60_000 }, (_, i) => i) },
    { name: 'many properties', schema: { type: 'object', properties: Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`p${i}`, { type: 'string', minLength: 1 }])) }, data: {} },
    { name: 'wide anyOf', schema: { anyOf: Array.from({ length: 2_000 }, (_, i) => ({ const: i })) }, data: 1999 },
  ),
);

/** Other JSON Schemas a tenant might declare to hurt Herald, and data to ingest against each. */
const hostileSchema: fc.Arbitrary<HostileSchema> = fc.oneof(
  fc.constantFrom(
    { name: 'invalid pattern', schema: { type: 'string', pattern: '(' }, data: 'x' },
    { name: 'remote $ref', schema: { $ref: 'http://127.0.0.1:1/schema.json' }, data: {} },
    { name: 'file $ref', schema: { $ref: 'file:///etc/passwd' }, data: {} },
    { name: 'self $ref', schema: { $ref: '#' }, data: {} },
    { name: 'mutual $defs', schema: { $defs: { a: { $ref: '#/$defs/b' }, b: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' }, data: {} },
    { name: 'recursive array', schema: { $defs: { n: { type: 'array', items: { $ref: '#/$defs/n' } } }, $ref: '#/$defs/n' }, data: JSON.parse(`${'['.repeat(60)}${']'.repeat(60)}`) },
    { name: 'unknown type', schema: { type: 'nonsense' }, data: 1 },
    { name: '$data', schema: { properties: { a: { const: { $data: '1/b' } } } }, data: { a: 1, b: 1 } },
    { name: 'tiny multipleOf', schema: { type: 'number', multipleOf: 1e-300 }, data: 1e300 },
    { name: 'huge minLength', schema: { type: 'string', minLength: 1e308 }, data: 'x' },
    { name: 'negative maxItems', schema: { type: 'array', maxItems: -1 }, data: [] },
    { name: 'nested allOf', schema: JSON.parse(`${'{"allOf":['.repeat(30)}{}${']}'.repeat(30)}`), data: 1 },
    { name: 'if/then/else loop', schema: { if: { $ref: '#' }, then: { $ref: '#' }, else: { $ref: '#' } }, data: 1 },
    { name: 'unknown format', schema: { type: 'string', format: 'no-such-format' }, data: 'x' },
    { name: 'dynamicRef', schema: { $dynamicAnchor: 'a', $dynamicRef: '#a' }, data: {} },
    { name: '__proto__ keyword', schema: JSON.parse('{"__proto__": {"type": "string"}, "type": "object"}'), data: {} },
    { name: 'schema not an object', schema: 'string', data: 'x' },
  ),
  // Generated: any JSON as a schema, any JSON as data.
  fc.tuple(fc.dictionary(fc.constantFrom('type', 'pattern', 'properties', 'items', '$ref', 'enum', 'const', 'minimum', 'format', 'required', 'additionalProperties', 'allOf', 'not', '$id', '$schema', 'x'), fc.jsonValue({ maxDepth: 3 })), fc.jsonValue({ maxDepth: 3 }))
    .map(([schema, data]) => ({ name: 'generated', schema, data })),
);

/** Static header sets and signature headers an endpoint might carry to hurt Herald or its receivers. */
const hostileHeaderSet = fc.oneof(
  fc.dictionary(
    fc.oneof(
      fc.constantFrom('Content-Type', 'content-length', 'Host', 'Transfer-Encoding', 'Upgrade', 'Connection', 'Webhook-Signature', 'X-\u0000', 'X-A\r\nB', '', ' ', 'X A', 'x'.repeat(65), 'Ünïcödé', ':authority', 'Cookie', 'Authorization'),
      fc.string({ minLength: 1, maxLength: 16 }),
    ),
    fc.oneof(fc.constantFrom('\u0000', 'a\r\nX-Injected: 1', 'x'.repeat(1025), '', ' ', '\u00ff', '\ud800'), fc.string({ maxLength: 20 })),
    { minKeys: 1, maxKeys: 6 },
  ).map((headers) => ({ name: 'headers', body: { headers } })),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).map((s) => `X-${s}`), fc.constant('v'), { minKeys: 200, maxKeys: 400 })
    .map((headers) => ({ name: 'hundreds of headers', body: { headers } })),
  fc.oneof(fc.constantFrom('Content-Type', 'Host', 'X-Sig\u0000', 'X Sig', '', 'x'.repeat(300), 'Transfer-Encoding'), fc.string({ maxLength: 20 }))
    .chain((header) => fc.constantFrom(
      { name: 'signature header', body: { signature: { scheme: 'hmac-sha256', header } } },
      { name: 'signature headerPrefix', body: { signature: { scheme: 'hmac-sha256', header: 'X-Signature', headerPrefix: header } } },
    )),
);

/** Transforms as DESIGN.md describes them (JSONata); Herald does not implement them yet, so the field is unknown. */
const hostileTransform = fc.oneof(
  fc.constantFrom('$sum([1..100000000])', '($f := function($x){$f($x)}; $f(1))', '$eval("1")', '$string($)', '**', '(', 'event.data' + '.x'.repeat(5000), 'a~>$f'.repeat(3_900)),
  fc.string({ maxLength: 200 }),
).chain((expression) => fc.constantFrom(
  { name: 'transform body', body: { transform: { body: expression } } },
  { name: 'transform headers', body: { transform: { headers: { 'X-T': expression } } } },
));

/**
 * Transforms built from the shapes that ran away inside one native step, where no check between
 * JSONata's steps could stop them (issue 18): a deep `=` between objects that share their halves
 * (exponential in the levels), `$distinct` (quadratic), and `$toMillis` with a picture of adjacent
 * word groups (a backtracking RegExp). Each is tried at create (the sample event) and past the
 * sample (`event.id = "evt_sample" ? ... : <runaway>` in a preview).
 */
const runawayTransform = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 30 }), fc.constantFrom('=', '!=', 'in')).map(([levels, operator]) => {
    const grow = (name: string) => `${name} := "x"; ${`${name} := {"l": ${name}, "r": ${name}}; `.repeat(levels)}`;
    return { name: `shared objects ${levels} levels ${operator}`, expression: `(${grow('$a')}${grow('$b')}$a ${operator} ${operator === 'in' ? '[$b]' : '$b'})` };
  }),
  fc.tuple(fc.integer({ min: 1, max: 100_000 }), fc.boolean()).map(([count, objects]) => ({
    name: `$distinct of ${count} ${objects ? 'objects' : 'numbers'}`,
    expression: objects ? `$distinct([1..${count}].{"v": $})` : `$distinct([1..${count}])`,
  })),
  fc.tuple(fc.integer({ min: 1, max: 18 }), fc.integer({ min: 0, max: 60 }), fc.constantFrom(' ', 'one ', '1', 'x', '-')).map(([groups, length, unit]) => {
    const picture = Array.from({ length: groups }, (_, i) => ['[YW]', '[MW]', '[DW]', '[HW]', '[mW]', '[sW]', '[Y]', '[M]', '[D]'][i % 9]).join('');
    return { name: `$toMillis ${groups} groups over ${length} × ${JSON.stringify(unit)}`, expression: `$toMillis(${JSON.stringify(`${unit.repeat(length)}!`)}, ${JSON.stringify(picture)})` };
  }),
).chain(({ name, expression }) => fc.constantFrom(
  { name: `${name} at create`, route: 'create' as const, expression },
  { name: `${name} past the sample, in a preview`, route: 'preview' as const, expression: `event.id = "evt_sample" ? {"sample": true} : ${expression}` },
));

/**
 * JSON Schemas whose `$ref`s fan out: `d_i = {allOf|anyOf|oneOf|properties: [$ref d_i+1] × fanOut}`,
 * a few values a level and fanOut^levels the work once expanded; and many `uniqueItems` over one long
 * array (within the value cap, each keyword walks the whole array). Declared, then ingested against.
 */
const fanningSchema: fc.Arbitrary<HostileSchema> = fc.oneof(
  fc.record({
    levels: fc.integer({ min: 1, max: 60 }),
    fanOut: fc.integer({ min: 1, max: 3 }),
    combinator: fc.constantFrom('allOf', 'anyOf', 'oneOf', 'properties'),
    leaf: fc.constantFrom({ type: 'object' }, {}, { uniqueItems: true }, { not: { type: 'string' } }),
    data: fc.constantFrom({}, [], { a: { a: { a: {} } } }, Array.from({ length: 1_000 }, (_, i) => i)),
  }).map(({ levels, fanOut, combinator, leaf, data }) => {
    const refs = (i: number) => Array.from({ length: fanOut }, () => ({ $ref: `#/$defs/d${i + 1}` }));
    const level = (i: number) => (i === levels - 1 ? leaf : combinator === 'properties'
      ? { properties: Object.fromEntries(refs(i).map((ref, k) => [`p${k}`, ref])), additionalProperties: refs(i)[0] }
      : { [combinator]: refs(i) });
    return { name: `$ref ${combinator} × ${fanOut}, ${levels} levels`, schema: { $defs: Object.fromEntries(Array.from({ length: levels }, (_, i) => [`d${i}`, level(i)])), $ref: '#/$defs/d0' }, data };
  }),
  fc.tuple(fc.integer({ min: 1, max: 999 }), fc.integer({ min: 0, max: 60_000 })).map(([keywords, items]) => ({
    name: `${keywords} × uniqueItems over ${items} items`,
    schema: { allOf: Array.from({ length: keywords }, () => ({ uniqueItems: true })) },
    data: Array.from({ length: items }, (_, i) => i),
  })),
);

export interface FuzzRuns {
  /** Bad bodies per write route (10 routes). */
  perWriteRoute: number;
  /** Hostile path and query parameters per route of the API description. */
  perParameterRoute: number;
  /** Hostile JSON Schemas, each declared and then ingested against when accepted. */
  schemas: number;
  /** Schemas that blocked the event loop (`blockingSchema`); run last, as a regression to a runaway pattern would block Herald for good. */
  blockingSchemas: number;
  headerSets: number;
  transforms: number;
  /** Transforms of the shapes that ran away in one native step (`runawayTransform`). */
  runawayTransforms: number;
  /** Schemas whose `$ref`s fan out, and many `uniqueItems` over long arrays (`fanningSchema`). */
  fanningSchemas: number;
}

export interface FuzzCounts {
  suite: string;
  requests: number;
  /** Status → how many answers had it. */
  statuses: Record<number, number>;
  slowestMs: number;
  /** The request that took slowestMs. */
  slowest?: string;
  /** Why the suite stopped, with the shrunk counterexample; unset when every input was answered well. */
  failure?: string;
}

/** Runs every suite against `herald` (started with HERALD_API_KEY=ADMIN_KEY); answers the counts per suite. */
export async function fuzzHerald(herald: TestHerald, runs: FuzzRuns, log: (line: string) => void = () => undefined): Promise<FuzzCounts[]> {
  const adminHeaders = { authorization: `Bearer ${ADMIN_KEY}` };
  const setup = async (route: string, body: unknown) => {
    const answer = await herald.api('POST', route, body, adminHeaders);
    assert.ok(answer.status === 201 || answer.status === 409, `${route}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  await setup('/v1/tenants', { id: 'fuzz' });
  const endpoint = await setup('/v1/endpoints', { url: 'https://hooks.example/in', tenant: 'fuzz', eventTypes: ['never.sent'] });
  await setup('/v1/event-types', { name: 'fuzz.declared', tenant: 'fuzz' });
  const id = endpoint.id as string;
  const endpointFields: Record<string, JsonType[]> = {
    url: ['string'], eventTypes: ['array'], description: ['string'], retryPolicy: ['string', 'object'], timeoutMs: ['number'],
    format: ['string'], signature: ['object'], headers: ['object'], enabled: ['boolean'], sourceApp: ['string'],
  };
  const writeRoutes: WriteRoute[] = [
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

  const results: FuzzCounts[] = [];
  /** Sends one attempt and checks the answer; `accept` says which successes the suite allows. */
  const send = async (counts: FuzzCounts, attempt: Attempt, acceptsSuccess: boolean): Promise<RawResponse> => {
    const started = Date.now();
    let response: RawResponse;
    try {
      response = await rawRequest(herald.apiUrl, attempt);
    } catch (err) {
      throw new Error(`${attempt.method} ${attempt.path.slice(0, 200)} with ${attempt.defect}: ${(err as Error).message}`);
    }
    const elapsed = Date.now() - started;
    counts.requests++;
    counts.statuses[response.status] = (counts.statuses[response.status] ?? 0) + 1;
    const context = `${attempt.method} ${attempt.path.slice(0, 200)} with ${attempt.defect.slice(0, 200)} → ${response.status} in ${elapsed} ms ${response.body.slice(0, 300)}`;
    if (elapsed >= counts.slowestMs) Object.assign(counts, { slowestMs: elapsed, slowest: context.slice(0, 400) });
    assert.ok(elapsed < SLOW_ANSWER_MS, `slow answer (the event loop was blocked): ${context}`);
    assert.ok(response.status < 500, context);
    if (response.status >= 400) assert.match(response.headers['content-type'] ?? '', /^application\/problem\+json/, context);
    else assert.ok(acceptsSuccess, `a bad input was accepted: ${context}`);
    return response;
  };
  /** Runs one suite to its end or its first failure, which is recorded and does not stop the next suite. */
  const suite = async (name: string, body: (counts: FuzzCounts) => Promise<void>) => {
    const counts: FuzzCounts = { suite: name, requests: 0, statuses: {}, slowestMs: 0 };
    try {
      await body(counts);
      assert.equal((await herald.api('GET', '/healthz')).status, 200, `Herald answers after ${name}`);
    } catch (err) {
      // A counterexample can be a megabyte of JSON.
      counts.failure = (err instanceof Error ? err.message : String(err)).slice(0, 1500);
    }
    results.push(counts);
    log(`${name}: ${counts.requests} requests, statuses ${JSON.stringify(counts.statuses)}, slowest ${counts.slowestMs} ms${counts.failure ? `\n  FAILED: ${counts.failure}` : ''}`);
  };
  const property = <T>(arbitrary: fc.Arbitrary<T>, numRuns: number, check: (value: T) => Promise<void>) =>
    fc.assert(fc.asyncProperty(arbitrary, check), { numRuns, includeErrorInReport: true });

  const before = await storedState(herald);
  for (const route of writeRoutes) {
    await suite(`body ${route.method} ${route.path.split('?')[0]}`, (counts) =>
      property(badBodies(route), runs.perWriteRoute, async (attempt) => void (await send(counts, attempt, false))));
  }
  await suite('nothing stored by a bad body', async () => assert.deepEqual(await storedState(herald), before));

  // Every route, reads included; a hostile parameter may still name nothing harmful (a 200 list).
  const parameterRoutes = apiRoutes.filter((route) => route.path.includes(':') || route.query);
  for (const route of parameterRoutes) {
    await suite(`parameters ${route.method.toUpperCase()} ${route.path}`, (counts) =>
      property(badParameters(route), runs.perParameterRoute, async (attempt) => void (await send(counts, attempt, true))));
  }

  let schemaNumber = 0;
  /** Declares the schema; when accepted, ingests the data against it and removes it again. */
  const declareAndIngest = (counts: FuzzCounts) => async ({ name, schema, data }: HostileSchema) => {
    const type = `fuzz.schema${schemaNumber++}`;
    const declared = await send(counts, { defect: `schema ${name}`, method: 'POST', path: '/v1/event-types', headers: [admin(), ['content-type', 'application/json']], body: json({ name: type, tenant: 'fuzz', schema }) }, true);
    if (declared.status !== 201) return;
    await send(counts, { defect: `data against schema ${name}`, method: 'POST', path: '/v1/events', headers: [admin(), ['content-type', 'application/json']], body: json({ type, tenant: 'fuzz', data }) }, true);
    await send(counts, { defect: `removing schema ${name}`, method: 'DELETE', path: `/v1/event-types/${type}?tenant=fuzz`, headers: [admin()] }, true);
  };
  await suite('JSON Schemas (declare, then ingest)', (counts) => property(hostileSchema, runs.schemas, declareAndIngest(counts)));

  /** Creates an endpoint with `extra`; one that is accepted is read back and removed (the tenant's endpoint quota stays free). */
  const endpointWith = (counts: FuzzCounts, name: string, extra: Record<string, unknown>) => async () => {
    const created = await send(counts, {
      defect: `${name} ${JSON.stringify(extra).slice(0, 200)}`, method: 'POST', path: '/v1/endpoints', headers: [admin(), ['content-type', 'application/json']],
      body: json({ url: 'https://hooks.example/headers', tenant: 'fuzz', eventTypes: ['never.sent'], secret: 'fuzz-secret-0123456789', signature: { scheme: 'hmac-sha256', header: 'X-Signature' }, ...extra }),
    }, true);
    if (created.status !== 201) return;
    const createdId = JSON.parse(created.body).id as string;
    await send(counts, { defect: `reading ${name}`, method: 'GET', path: `/v1/endpoints/${createdId}?tenant=fuzz`, headers: [admin()] }, true);
    await send(counts, { defect: `removing ${name}`, method: 'DELETE', path: `/v1/endpoints/${createdId}?tenant=fuzz`, headers: [admin()] }, true);
  };
  await suite('header sets and signature headers', (counts) =>
    property(hostileHeaderSet, runs.headerSets, ({ name, body }) => endpointWith(counts, name, body)()));
  await suite('transforms', (counts) =>
    property(hostileTransform, runs.transforms, ({ name, body }) => endpointWith(counts, name, body)()));
  await suite('transforms that ran away in one native step', (counts) => property(runawayTransform, runs.runawayTransforms, async (runaway) => {
    const transform = { body: runaway.expression };
    await send(counts, runaway.route === 'create'
      ? { defect: runaway.name, method: 'POST', path: '/v1/endpoints', headers: [admin(), ['content-type', 'application/json']], body: json({ url: 'https://hooks.example/runaway', tenant: 'fuzz', eventTypes: ['never.sent'], transform }) }
      : { defect: runaway.name, method: 'POST', path: '/v1/endpoints/preview', headers: [admin(), ['content-type', 'application/json']], body: json({ endpoint: { url: 'https://hooks.example/runaway', tenant: 'fuzz', transform }, event: { type: 'never.sent', data: {} } }) },
    true).then(async (answer) => {
      // One that finishes in time is a valid endpoint: removed again, so the tenant's quota stays free.
      if (answer.status === 201) await send(counts, { defect: `removing ${runaway.name}`, method: 'DELETE', path: `/v1/endpoints/${JSON.parse(answer.body).id}?tenant=fuzz`, headers: [admin()] }, true);
    });
  }));
  await suite('JSON Schemas whose $refs fan out', (counts) => property(fanningSchema, runs.fanningSchemas, declareAndIngest(counts)));
  if (runs.blockingSchemas) {
    await suite('JSON Schemas that blocked the event loop', (counts) => property(blockingSchema, runs.blockingSchemas, declareAndIngest(counts)));
  }
  return results;
}

/** Everything a bad request could have left behind, read through the API and Temporal. */
async function storedState(herald: TestHerald) {
  const adminHeaders = { authorization: `Bearer ${ADMIN_KEY}` };
  const read = async (route: string) => (await herald.api('GET', route, undefined, adminHeaders)).body;
  return {
    endpoints: [await read('/v1/endpoints?tenant=default&limit=200'), await read('/v1/endpoints?tenant=fuzz&limit=200')],
    tenants: await read('/v1/tenants?limit=200'),
    keys: await read('/v1/tenants/fuzz/keys'),
    eventTypes: [await read('/v1/event-types?tenant=default&limit=200'), await read('/v1/event-types?tenant=fuzz&limit=200')],
    workflows: (await herald.client.workflow.count()).count,
  };
}
