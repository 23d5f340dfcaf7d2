import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertWritable } from '../../src/api/endpoints/shared.ts';
import { Problem } from '../../src/api/problem.ts';
import { loadConfig } from '../../src/config.ts';
import { loadStaticRoutes } from '../../src/endpoints/staticRoutes.ts';
import type { Db } from '../../src/storage/db.ts';
import { EndpointStore, type StaticRoute } from '../../src/endpoints/store.ts';
import { openTestMemoryDb } from '../support/suiteSetup.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-routes-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const at = path.join(dir, name);
  fs.writeFileSync(at, text);
  return at;
}

/** The destination policy of development: any address, http allowed. */
const open = { allowPrivateTargets: true, requireHttps: false };

function routes(env: NodeJS.ProcessEnv, routesFile?: string): StaticRoute[] {
  const result = loadStaticRoutes(env, routesFile, open);
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  return result.routes;
}

function errors(env: NodeJS.ProcessEnv, routesFile?: string): string[] {
  const result = loadStaticRoutes(env, routesFile, open);
  assert.ok(!result.ok, 'expected the routes to be refused');
  return result.errors;
}

describe('static routes from the environment', () => {
  test('HERALD_ROUTE_<NAME>_<FIELD> and HERALD_FALLBACK_<FIELD> define routes with the endpoint defaults', () => {
    const [booking, fallback, ...none] = routes({
      HERALD_ROUTE_BOOKING_URL: 'https://hook.example/booking',
      HERALD_ROUTE_BOOKING_EVENTS: 'booking.created, booking.rescheduled',
      HERALD_ROUTE_BOOKING_SIGNATURE: 'none',
      HERALD_ROUTE_BOOKING_RETRY_POLICY: '{"schedule":["1s","2s"]}',
      HERALD_FALLBACK_URL: 'https://hook.example/fallback',
      HERALD_FALLBACK_SIGNATURE: '{"scheme":"hmac-sha256","header":"X-Signature"}',
      HERALD_FALLBACK_SECRET: 'erp-signing-key',
      HERALD_FALLBACK_TIMEOUT_MS: '5000',
      HERALD_ROUTE_EMPTY_URL: '',
    });
    assert.equal(none.length, 0);
    assert.deepEqual(booking, {
      name: 'booking', fallback: false, tenant: 'default', url: 'https://hook.example/booking', description: '',
      eventTypes: ['booking.created', 'booking.rescheduled'], secret: '', format: 'standard', signature: { scheme: 'none' },
      headers: {}, enabled: true, retryPolicy: { schedule: ['1s', '2s'] }, timeoutMs: 15_000,
      rateLimit: null, ordering: null, onFailure: 'block', auth: null, proxy: true,
    });
    assert.deepEqual(fallback, {
      name: 'fallback', fallback: true, tenant: 'default', url: 'https://hook.example/fallback', description: '', eventTypes: ['*'],
      secret: 'erp-signing-key', format: 'standard', signature: { scheme: 'hmac-sha256', header: 'X-Signature' },
      headers: {}, enabled: true, retryPolicy: 'standard', timeoutMs: 5000,
      rateLimit: null, ordering: null, onFailure: 'block', auth: null, proxy: true,
    });
  });

  test('the make preset implies its 5 s timeout, as for API endpoints', () => {
    const [order] = routes({
      HERALD_ROUTE_ORDER_URL: 'https://hook.example/order', HERALD_ROUTE_ORDER_EVENTS: 'order_submitted', HERALD_ROUTE_ORDER_FORMAT: 'make',
      HERALD_ROUTE_ORDER_SOURCE_APP: 'pu_observatory', HERALD_ROUTE_ORDER_SIGNATURE: 'shared-secret', HERALD_ROUTE_ORDER_SECRET: 'make-secret',
      HERALD_ROUTE_ORDER_RETRY_POLICY: 'make',
    });
    assert.equal(order!.retryPolicy, 'make');
    assert.equal(order!.timeoutMs, 5000);
    assert.equal(order!.sourceApp, 'pu_observatory');
  });

  test('errors name the variable to fix', () => {
    assert.deepEqual(errors({ HERALD_ROUTE_ORDER_URL: 'ftp://x', HERALD_ROUTE_ORDER_EVENTS: 'order_submitted', HERALD_ROUTE_ORDER_SIGNATURE: 'none' }), [
      'HERALD_ROUTE_ORDER_URL: an http or https URL',
    ]);
    assert.deepEqual(errors({ HERALD_ROUTE_ORDER_URL: 'https://x.example', HERALD_ROUTE_ORDER_SIGNATURE: 'none' }), [
      'HERALD_ROUTE_ORDER_EVENTS: required unless "fallback": true',
    ]);
    assert.deepEqual(errors({ HERALD_FALLBACK_URL: 'https://x.example', HERALD_FALLBACK_SIGNATURE: 'standard-webhooks' }), [
      'HERALD_FALLBACK_SECRET: required for signature "standard-webhooks" (or use signature "none")',
    ]);
    assert.deepEqual(errors({ HERALD_FALLBACK_URL: 'https://x.example', HERALD_FALLBACK_SIGNATURE: '{"scheme":' }), [
      'HERALD_FALLBACK_SIGNATURE: not valid JSON',
    ]);
  });

  test('the order form as written: no secret sends none, a short legacy secret is kept, the User-Agent is settable', () => {
    const base = {
      HERALD_ROUTE_ORDER_URL: 'https://hook.example/order', HERALD_ROUTE_ORDER_EVENTS: 'order_submitted', HERALD_ROUTE_ORDER_SIGNATURE: 'shared-secret',
      HERALD_ROUTE_ORDER_HEADERS: '{"User-Agent": "PU-Observatory-Webhook/1.0"}',
    };
    const [withoutSecret] = routes(base);
    assert.equal(withoutSecret!.secret, '');
    assert.deepEqual(withoutSecret!.headers, { 'User-Agent': 'PU-Observatory-Webhook/1.0' });
    assert.equal(routes({ ...base, HERALD_ROUTE_ORDER_SECRET: 'abc' })[0]!.secret, 'abc');
    assert.deepEqual(errors({ ...base, HERALD_ROUTE_ORDER_SIGNATURE: 'hmac-sha256', HERALD_ROUTE_ORDER_SECRET: 'abc' }), [
      'HERALD_ROUTE_ORDER_SECRET: at least 8 characters to sign with',
    ]);
  });

  test('a transform comes from _TRANSFORM, and a broken one names that variable', () => {
    const base = { HERALD_ROUTE_HOOK_URL: 'https://hook.example/x', HERALD_ROUTE_HOOK_EVENTS: '*', HERALD_ROUTE_HOOK_SIGNATURE: 'none' };
    const [route] = routes({ ...base, HERALD_ROUTE_HOOK_TRANSFORM: '{"body": "{ \\"id\\": event.id }"}' });
    assert.deepEqual(route!.transform, { body: '{ "id": event.id }' });
    const [problem] = errors({ ...base, HERALD_ROUTE_HOOK_TRANSFORM: '{"body": "{ \\"id\\": "}' });
    assert.match(problem!, /^HERALD_ROUTE_HOOK_TRANSFORM\.body: .*position/);
  });

  test('a route without its URL variable is left out, and said so', () => {
    const result = loadStaticRoutes({ HERALD_ROUTE_RESCHEDULE_EVENTS: 'booking.rescheduled', HERALD_ROUTE_RESCHEDULE_URL: '', HERALD_FALLBACK_SIGNATURE: 'none' }, undefined, open);
    assert.deepEqual(result, { ok: true, routes: [], leftOut: ['HERALD_ROUTE_RESCHEDULE_URL', 'HERALD_FALLBACK_URL'] });
  });
});

describe('static routes from a routes file', () => {
  const yaml = `
routes:
  - name: order
    url: \${ORDER_WEBHOOK_URL}
    eventTypes: [order_submitted]
    format: make
    sourceApp: pu_observatory
    signature: shared-secret
    secret: \${WEBHOOK_SECRET}
    retryPolicy: make
  - name: erp-fallback
    tenant: acme
    fallback: true
    url: https://erp.example/hooks
    signature: { scheme: hmac-sha256 }
    secret: erp-signing-key
`;

  test('YAML with ${VAR} taken from the environment, merged with HERALD_ROUTE_* variables', () => {
    const loaded = routes({
      ORDER_WEBHOOK_URL: 'https://hook.example/order', WEBHOOK_SECRET: 'make-secret',
      HERALD_ROUTE_SIGNUP_URL: 'https://hook.example/signup', HERALD_ROUTE_SIGNUP_EVENTS: 'signup', HERALD_ROUTE_SIGNUP_SIGNATURE: 'none',
    }, file('routes.yaml', yaml));
    assert.deepEqual(loaded.map((r) => [r.tenant, r.name, r.url, r.secret, r.eventTypes, r.fallback]), [
      ['default', 'order', 'https://hook.example/order', 'make-secret', ['order_submitted'], false],
      ['acme', 'erp-fallback', 'https://erp.example/hooks', 'erp-signing-key', ['*'], true],
      ['default', 'signup', 'https://hook.example/signup', '', ['signup'], false],
    ]);
  });

  test('${VAR:-default} stands for default when VAR is unset or empty; an empty URL leaves the route out', () => {
    const at = file('optional.yaml', `
routes:
  - { name: booking, url: "\${BOOKING_URL}", eventTypes: [booking.created], signature: none }
  - { name: reschedule, url: "\${RESCHEDULE_URL:-}", eventTypes: [booking.rescheduled], signature: none }
  - { name: refund, url: "\${REFUND_URL:-https://hook.example/refunds}", eventTypes: [order.refunded], signature: none }
`);
    const result = loadStaticRoutes({ BOOKING_URL: 'https://hook.example/booking', REFUND_URL: '' }, at, open);
    assert.ok(result.ok);
    assert.deepEqual(result.routes.map((r) => [r.name, r.url]), [['booking', 'https://hook.example/booking'], ['refund', 'https://hook.example/refunds']]);
    assert.deepEqual(result.leftOut, [`HERALD_ROUTES_FILE (${at}) routes.1.url`]);
  });

  test('an unset variable in a URL leaves the route out, as the order form skipped an unset ORDER_WEBHOOK_URL', () => {
    const result = loadStaticRoutes({ WEBHOOK_SECRET: 'x' }, file('no-url.yaml', yaml), open);
    assert.ok(result.ok);
    assert.deepEqual(result.routes.map((r) => r.name), ['erp-fallback']);
    assert.deepEqual(result.leftOut, [`HERALD_ROUTES_FILE (${path.join(dir, 'no-url.yaml')}) routes.0.url`]);
  });

  test('JSON works too', () => {
    const json = JSON.stringify({ routes: [{ name: 'a', url: 'https://a.example', eventTypes: ['*'], signature: 'none' }] });
    assert.equal(routes({}, file('routes.json', json))[0]!.name, 'a');
  });

  test('errors name the file and the failing field', () => {
    const at = file('bad.yaml', `
routes:
  - name: order
    url: https://hook.example/order
    eventTypes: [order_submitted]
    signature: standard-webhooks
    colour: red
  - name: order
    url: https://hook.example/other
    fallback: true
    eventTypes: ["*"]
    signature: none
`);
    assert.deepEqual(errors({}, at), [
      `HERALD_ROUTES_FILE (${at}) routes.0: Unrecognized key: "colour"`,
      `HERALD_ROUTES_FILE (${at}) routes.0.secret: required for signature "standard-webhooks" (or use signature "none")`,
      `HERALD_ROUTES_FILE (${at}) routes.1.eventTypes: a fallback route takes the types no other route takes; leave eventTypes out`,
      `HERALD_ROUTES_FILE (${at}) routes.1.name: "order" is defined twice`,
    ]);
    assert.deepEqual(errors({ ORDER_WEBHOOK_URL: 'https://hook.example/order' }, file('unset.yaml', yaml)), [
      `HERALD_ROUTES_FILE (${path.join(dir, 'unset.yaml')}) routes.0.secret: \${WEBHOOK_SECRET} is not set`,
    ]);
    const twice = file('twice.json', JSON.stringify({ routes: [1, 2].map(() => ({ name: 'a', url: 'https://a.example', fallback: true, signature: 'none' })) }));
    assert.deepEqual(errors({}, twice), [
      `HERALD_ROUTES_FILE (${twice}) routes.1.name: "a" is defined twice`,
      `HERALD_ROUTES_FILE (${twice}) routes.1.fallback: tenant "default" already has a fallback route`,
    ]);
    assert.match(errors({}, file('broken.json', '{"routes": [')).join(), /^HERALD_ROUTES_FILE \(.*broken\.json\): /);
    assert.deepEqual(errors({}, file('shape.json', '{"routes": {}}')), [`HERALD_ROUTES_FILE (${path.join(dir, 'shape.json')}) routes: Invalid input: expected array, received object`]);
  });

  test('a bad routes file fails start with the configuration error', () => {
    assert.throws(() => loadConfig({ HERALD_ROUTES_FILE: path.join(dir, 'missing.yaml') }), /^Error: invalid configuration:\n {2}HERALD_ROUTES_FILE \(.*missing\.yaml\): ENOENT/);
  });

  test('a static route meets the destination policy of API endpoints: no private address when guarded, https in production', () => {
    const guarded = { HERALD_ALLOW_PRIVATE_TARGETS: 'false', HERALD_ROUTE_METADATA_URL: 'http://[64:ff9b::a9fe:a9fe]/latest', HERALD_ROUTE_METADATA_EVENTS: '*', HERALD_ROUTE_METADATA_SIGNATURE: 'none' };
    assert.throws(() => loadConfig(guarded), /^Error: invalid configuration:\n {2}HERALD_ROUTE_METADATA_URL: destination 64:ff9b::a9fe:a9fe is a private or reserved address/);
    const production = { NODE_ENV: 'production', HERALD_API_KEY: 'an-admin-key-of-16+', HERALD_ROUTE_ORDER_URL: 'http://hook.example/order', HERALD_ROUTE_ORDER_EVENTS: '*', HERALD_ROUTE_ORDER_SIGNATURE: 'none' };
    assert.throws(() => loadConfig(production), /HERALD_ROUTE_ORDER_URL: must be an https URL in production/);
    assert.equal(loadConfig({ ...production, HERALD_ROUTE_ORDER_URL: 'https://hook.example/order' }).staticRoutes.length, 1);
    const file = path.join(dir, 'private.yaml');
    fs.writeFileSync(file, 'routes:\n  - { name: internal, url: "http://10.1.2.3/hook", eventTypes: ["*"], signature: none }\n');
    assert.throws(() => loadConfig({ HERALD_ALLOW_PRIVATE_TARGETS: 'false', HERALD_ROUTES_FILE: file }), /routes\.0\.url: destination 10\.1\.2\.3 is a private or reserved address/);
  });
});

describe('static routes in the endpoint store', () => {
  let db: Db;
  let store: EndpointStore;
  before(async () => {
    db = await openTestMemoryDb();
    store = new EndpointStore(db);
  });
  after(() => db?.close());

  const env = {
    HERALD_ROUTE_BOOKING_URL: 'https://hook.example/booking', HERALD_ROUTE_BOOKING_EVENTS: 'booking.created', HERALD_ROUTE_BOOKING_SIGNATURE: 'none',
    HERALD_ROUTE_TICKET_URL: 'https://hook.example/ticket', HERALD_ROUTE_TICKET_EVENTS: 'ticket.*', HERALD_ROUTE_TICKET_SIGNATURE: 'none',
    HERALD_FALLBACK_URL: 'https://hook.example/booking', HERALD_FALLBACK_SIGNATURE: 'none',
  };
  const subscribers = async (type: string) => (await store.subscribedTo('default', type)).map((e) => e.id).sort();

  test('the fallback takes only the types no other static route takes; API endpoints do not count', async () => {
    await store.syncStaticRoutes(routes(env));
    const api = await store.create({ ...routes(env)[0]!, eventTypes: ['*'], secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });
    assert.deepEqual(await subscribers('booking.created'), [api.id, 'ep_route_booking'].sort());
    assert.deepEqual(await subscribers('ticket.created'), [api.id, 'ep_route_ticket'].sort());
    assert.deepEqual(await subscribers('error.occurred'), [api.id, 'ep_route_fallback'].sort());
    const listed = Object.fromEntries((await store.list('default', { limit: 10 })).map((e) => [e.id, [e.readOnly, e.staticRoute]]));
    assert.deepEqual(listed, {
      [api.id]: [false, null],
      ep_route_booking: [true, { name: 'booking', fallback: false }],
      ep_route_fallback: [true, { name: 'fallback', fallback: true }],
      ep_route_ticket: [true, { name: 'ticket', fallback: false }],
    });
  });

  test('the API may not change a static route: assertWritable answers 409', async () => {
    const route = await store.get('default', 'ep_route_booking');
    assert.throws(() => assertWritable(route!), (err) => err instanceof Problem && err.status === 409 && /static route "booking"/.test(err.message));
    const [api] = (await store.list('default', { limit: 10 })).filter((e) => !e.readOnly);
    assert.doesNotThrow(() => assertWritable(api!));
  });

  test('a restart with changed configuration updates routes in place and removes dropped ones', async () => {
    const before = await store.get('default', 'ep_route_booking');
    const changed = Object.fromEntries(Object.entries({ ...env, HERALD_ROUTE_BOOKING_URL: 'https://hook.example/v2' }).filter(([name]) => !name.startsWith('HERALD_ROUTE_TICKET_')));
    await store.syncStaticRoutes(routes(changed));
    const after = await store.get('default', 'ep_route_booking');
    assert.equal(after!.url, 'https://hook.example/v2');
    assert.equal(after!.createdAt, before!.createdAt);
    assert.equal(await store.get('default', 'ep_route_ticket'), undefined);
    assert.deepEqual((await store.subscribedTo('default', 'ticket.created')).filter((e) => e.readOnly).map((e) => e.id), ['ep_route_fallback']);
    const unchanged = await store.get('default', 'ep_route_fallback');
    await store.syncStaticRoutes(routes(changed));
    assert.equal((await store.get('default', 'ep_route_fallback'))!.updatedAt, unchanged!.updatedAt);
  });
});
