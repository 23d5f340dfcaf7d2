import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deliveryIdsOf, startTestHerald, type TestHerald } from '../support/herald.ts';
import { Receiver } from '../support/receiver.ts';

const ADMIN_KEY = 'admin-key-for-the-portal-test';
const everything = ['view', 'manageEndpoints', 'viewSecrets', 'rotateSecrets', 'replay', 'testSend', 'manageTransforms'];

describe('portal sessions: a single-use link, then a token scoped to the tenant, its capabilities and endpoints', () => {
  let herald: TestHerald;
  let receiver: Receiver;
  const as = (key: string) => (method: string, route: string, body?: unknown) =>
    herald.api(method, route, body, { authorization: `Bearer ${key}` });
  const admin = as(ADMIN_KEY);
  let acmeKey: string;

  before(async () => {
    [herald, receiver] = await Promise.all([startTestHerald({ HERALD_API_KEY: ADMIN_KEY, HERALD_ALLOW_PRIVATE_TARGETS: 'true' }), Receiver.start()]);
    for (const id of ['acme', 'other']) assert.equal((await admin('POST', '/v1/tenants', { id })).status, 201);
    acmeKey = (await admin('POST', '/v1/tenants/acme/keys', {})).body.key;
  });
  after(async () => {
    await herald?.stop();
    await receiver?.close();
  });

  /** Issues a link with `key` and spends its code; answers the link and the exchange's answer. */
  async function open(key: string, body: Record<string, unknown>) {
    const link = await as(key)('POST', '/v1/portal/sessions', body);
    assert.equal(link.status, 201, JSON.stringify(link.body));
    const code = new URL(link.body.url).hash.replace(/^#code=/, '');
    const exchanged = await herald.api('POST', '/v1/portal/exchange', { code });
    return { link: link.body, code, exchanged };
  }

  test('a link carries its code in the fragment; the code opens one session, once; the token acts for the tenant only', async () => {
    const acmeEndpoint = await as(acmeKey)('POST', '/v1/endpoints', { url: receiver.script('/acme') });
    const otherEndpoint = await admin('POST', '/v1/endpoints', { tenant: 'other', url: receiver.script('/other') });
    const { link, code, exchanged } = await open(acmeKey, { capabilities: everything, sessionId: 'support-ticket-7' });
    const url = new URL(link.url);
    assert.equal(url.pathname, '/portal/');
    assert.equal(url.searchParams.get('tenant'), 'acme');
    assert.match(code, /^hpc_[A-Za-z0-9_-]{43}$/);
    assert.equal(link.sessionId, 'support-ticket-7');
    const hours = (Date.parse(link.expiresAt) - Date.now()) / 3_600_000;
    assert.ok(hours > 23.9 && hours <= 24, `expires in 24 h by default, not ${hours} h`);

    assert.equal(exchanged.status, 200);
    assert.equal(exchanged.headers.get('cache-control'), 'no-store');
    assert.deepEqual({ ...exchanged.body, token: undefined }, {
      token: undefined, sessionId: 'support-ticket-7', tenant: 'acme', capabilities: everything, endpointIds: null, expiresAt: link.expiresAt,
      operator: false, workflowUrl: null,
    });
    const portal = as(exchanged.body.token);
    const listed = await portal('GET', '/v1/endpoints');
    assert.deepEqual(listed.body.data.map((e: { id: string }) => e.id), [acmeEndpoint.body.id]);
    assert.equal((await portal('GET', `/v1/endpoints/${otherEndpoint.body.id}`)).status, 404);
    assert.equal((await portal('GET', '/v1/endpoints?tenant=other')).status, 403);

    const again = await herald.api('POST', '/v1/portal/exchange', { code });
    assert.equal(again.status, 401);
    assert.match(again.body.detail, /already used or has expired/);
    assert.deepEqual(again.body.errors.map((e: { field: string }) => e.field), ['code']);

    // A session is the receiver's view, not a key: it mints no sessions, sends no events, manages no tenants.
    assert.equal((await portal('POST', '/v1/portal/sessions', { capabilities: ['view'] })).status, 403);
    assert.equal((await portal('POST', '/v1/events', { type: 'order.created', data: {} })).status, 403);
    assert.equal((await portal('GET', '/v1/tenants')).status, 403);
    assert.equal((await portal('PUT', '/v1/event-types/order.created', { description: 'x' })).status, 403);
  });

  test('who may issue a link: the admin for any tenant, a tenant key for its own only; every field is checked', async () => {
    const forOther = await as(acmeKey)('POST', '/v1/portal/sessions', { tenant: 'other', capabilities: ['view'] });
    assert.equal(forOther.status, 403);
    assert.deepEqual(forOther.body.errors.map((e: { field: string }) => e.field), ['tenant']);
    const { link, exchanged } = await open(ADMIN_KEY, { tenant: 'other', capabilities: ['view'], expiresIn: '7d' });
    assert.equal(exchanged.body.tenant, 'other');
    // The operator's session links each event to its workflow in the Temporal Web UI.
    assert.equal(exchanged.body.operator, true);
    assert.match(exchanged.body.workflowUrl, /^http:\/\/localhost:\d+\/namespaces\/default\/workflows\/event%3A\{tenant\}%3A\{eventId\}$/);
    assert.ok(Math.abs(Date.parse(link.expiresAt) - Date.now() - 7 * 86_400_000) < 60_000);

    const refused = await admin('POST', '/v1/portal/sessions', { tenant: 'acme', capabilities: ['view', 'fly'], expiresIn: '30m', endpointIds: ['ep_nowhere'], extra: 1 });
    assert.equal(refused.status, 400);
    assert.equal(refused.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.deepEqual(refused.body.errors.map((e: { field: string }) => e.field).sort(), ['capabilities.1', 'expiresIn', 'extra']);
    const unknownEndpoint = await admin('POST', '/v1/portal/sessions', { tenant: 'acme', capabilities: ['view'], endpointIds: ['ep_nowhere'] });
    assert.equal(unknownEndpoint.status, 400);
    assert.deepEqual(unknownEndpoint.body.errors, [{ field: 'endpointIds.0', message: 'tenant acme has no endpoint ep_nowhere' }]);
    assert.equal((await herald.api('POST', '/v1/portal/sessions', { capabilities: ['view'] })).status, 401);
    assert.equal((await herald.api('POST', '/v1/portal/exchange', { code: 12 })).status, 400);

    await open(ADMIN_KEY, { tenant: 'acme', capabilities: ['view'], sessionId: 'taken' });
    const taken = await admin('POST', '/v1/portal/sessions', { tenant: 'acme', capabilities: ['view'], sessionId: 'taken' });
    assert.equal(taken.status, 409);
    assert.deepEqual(taken.body.errors.map((e: { field: string }) => e.field), ['sessionId']);
  });

  test('a view session reads but every write is a 403; each write needs its own capability', async () => {
    const endpoint = (await as(acmeKey)('POST', '/v1/endpoints', { url: receiver.script('/view-only') })).body;
    const view = as((await open(acmeKey, { capabilities: ['view'] })).exchanged.body.token);
    assert.equal((await view('GET', `/v1/endpoints/${endpoint.id}`)).status, 200);
    assert.equal((await view('GET', `/v1/endpoints/${endpoint.id}/stats`)).status, 200);
    assert.equal((await view('GET', '/v1/deliveries')).status, 200);
    assert.equal((await view('GET', '/v1/event-types')).status, 200);
    for (const [method, route, body] of [
      ['POST', '/v1/endpoints', { url: receiver.script('/nope') }],
      ['PATCH', `/v1/endpoints/${endpoint.id}`, { description: 'changed' }],
      ['PATCH', `/v1/endpoints/${endpoint.id}`, { transform: { body: '{"x": 1}' } }],
      ['DELETE', `/v1/endpoints/${endpoint.id}`, undefined],
      ['GET', `/v1/endpoints/${endpoint.id}/secret`, undefined],
      ['POST', `/v1/endpoints/${endpoint.id}/rotate-secret`, {}],
      ['POST', `/v1/endpoints/${endpoint.id}/test`, {}],
      ['POST', `/v1/endpoints/${endpoint.id}/recover`, { since: new Date(0).toISOString() }],
    ] as const) {
      const answer = await view(method, route, body);
      assert.equal(answer.status, 403, `${method} ${route}`);
      assert.match(answer.body.detail, /lacks the capability/);
    }
    assert.equal((await as(acmeKey)('GET', `/v1/endpoints/${endpoint.id}`)).body.description, '', 'nothing was changed');

    const secrets = as((await open(acmeKey, { capabilities: ['viewSecrets', 'manageTransforms'] })).exchanged.body.token);
    const revealed = await secrets('GET', `/v1/endpoints/${endpoint.id}/secret`);
    assert.equal(revealed.status, 200);
    assert.equal(revealed.body.secret, endpoint.secret);
    assert.equal(revealed.body.previousSecretExpiresAt, null);
    assert.equal((await secrets('PATCH', `/v1/endpoints/${endpoint.id}`, { description: 'changed' })).status, 403);
    assert.equal((await secrets('PATCH', `/v1/endpoints/${endpoint.id}`, { transform: { body: '{"wrapped": data}' } })).status, 200);
  });

  test('a session narrowed to one endpoint never sees another, nor its deliveries', async () => {
    const mine = (await as(acmeKey)('POST', '/v1/endpoints', { url: receiver.script('/narrow-mine'), eventTypes: ['narrow.*'] })).body;
    const theirs = (await as(acmeKey)('POST', '/v1/endpoints', { url: receiver.script('/narrow-theirs'), eventTypes: ['narrow.*'] })).body;
    const narrowed = as((await open(acmeKey, { capabilities: everything, endpointIds: [mine.id] })).exchanged.body.token);
    assert.equal((await as(acmeKey)('POST', '/v1/events', { id: 'narrow-1', type: 'narrow.happened', data: {} })).status, 202);
    const [toMine, toTheirs] = await Promise.all([mine, theirs].map(async (endpoint) =>
      (await deliveryIdsOf(herald, 'acme', 'narrow-1', { authorization: `Bearer ${ADMIN_KEY}` })).find((id) => id.endsWith(`:${endpoint.id}`))!));

    assert.deepEqual((await narrowed('GET', '/v1/endpoints')).body.data.map((e: { id: string }) => e.id), [mine.id]);
    assert.deepEqual((await narrowed('GET', '/v1/deliveries?eventId=narrow-1')).body.data.map((d: { id: string }) => d.id), [toMine]);
    assert.equal((await narrowed('GET', `/v1/deliveries/${encodeURIComponent(toMine!)}`)).status, 200);
    for (const [method, route] of [
      ['GET', `/v1/endpoints/${theirs.id}`], ['GET', `/v1/endpoints/${theirs.id}/stats`], ['PATCH', `/v1/endpoints/${theirs.id}`],
      ['DELETE', `/v1/endpoints/${theirs.id}`], ['GET', `/v1/deliveries/${encodeURIComponent(toTheirs!)}`],
      ['POST', `/v1/deliveries/${encodeURIComponent(toTheirs!)}/replay`], ['POST', `/v1/endpoints/${theirs.id}/recover`],
    ] as const) {
      assert.equal((await narrowed(method, route, method === 'GET' || method === 'DELETE' ? undefined : {})).status, 404, `${method} ${route}`);
    }
    assert.equal((await narrowed('POST', '/v1/endpoints', { url: receiver.script('/narrow-new') })).status, 403);
    const event = await narrowed('GET', '/v1/events/narrow-1');
    assert.equal(event.status, 200);
    assert.deepEqual(event.body.deliveries.map((d: { id: string }) => d.id), [toMine]);
    // An event that reached none of the session's endpoints is not there for it.
    const theirsOnly = (await as(acmeKey)('POST', '/v1/endpoints', { url: receiver.script('/narrow-only'), eventTypes: ['only.*'] })).body;
    assert.equal((await as(acmeKey)('POST', '/v1/events', { id: 'only-1', type: 'only.theirs', data: {} })).status, 202);
    assert.equal((await as(acmeKey)('GET', '/v1/events/only-1')).status, 200);
    assert.equal((await narrowed('GET', '/v1/events/only-1')).status, 404);
    assert.ok(theirsOnly.id);
  });

  test('revoking a session ends it at the next request; revoke-all ends every session of the tenant', async () => {
    const first = as((await open(acmeKey, { capabilities: ['view'], sessionId: 'to-revoke' })).exchanged.body.token);
    assert.equal((await first('GET', '/v1/endpoints')).status, 200);
    assert.equal((await as(acmeKey)('DELETE', '/v1/portal/sessions/to-revoke')).status, 204);
    assert.equal((await first('GET', '/v1/endpoints')).status, 401);
    assert.equal((await as(acmeKey)('DELETE', '/v1/portal/sessions/to-revoke')).status, 404);
    // Its label may then be given to a new session.
    const reused = await open(acmeKey, { capabilities: ['view'], sessionId: 'to-revoke' });
    assert.equal(reused.exchanged.status, 200);

    const unspent = await as(acmeKey)('POST', '/v1/portal/sessions', { capabilities: ['view'] });
    const second = as(reused.exchanged.body.token);
    const otherTenant = as((await open(ADMIN_KEY, { tenant: 'other', capabilities: ['view'] })).exchanged.body.token);
    const revokedAll = await as(acmeKey)('DELETE', '/v1/portal/sessions');
    assert.equal(revokedAll.status, 200);
    assert.equal(revokedAll.body.tenant, 'acme');
    assert.ok(revokedAll.body.revoked >= 2);
    assert.equal((await second('GET', '/v1/endpoints')).status, 401);
    const code = new URL(unspent.body.url).hash.replace(/^#code=/, '');
    assert.equal((await herald.api('POST', '/v1/portal/exchange', { code })).status, 401, 'a link not yet opened is refused too');
    assert.equal((await otherTenant('GET', '/v1/endpoints')).status, 200, 'another tenant\'s sessions go on');
  });

  test('an operator\'s session switches tenant and lists tenants; the switched session ends with it; no other session may', async () => {
    const otherEndpoint = (await admin('POST', '/v1/endpoints', { tenant: 'other', url: receiver.script('/switch-other'), description: 'switch target' })).body;
    const { exchanged } = await open(ADMIN_KEY, { tenant: 'acme', capabilities: ['view'], sessionId: 'operator-switch' });
    assert.equal(exchanged.body.operator, true);
    const operator = as(exchanged.body.token);
    const listed = await operator('GET', '/v1/tenants');
    assert.equal(listed.status, 200);
    assert.ok(['acme', 'other'].every((id) => listed.body.data.some((t: { id: string }) => t.id === id)));
    assert.equal((await operator('GET', '/v1/tenants/acme/keys')).status, 403, 'the list, nothing more');

    const switched = await operator('POST', '/v1/portal/switch', { tenant: 'other' });
    assert.equal(switched.status, 200, JSON.stringify(switched.body));
    assert.equal(switched.headers.get('cache-control'), 'no-store');
    assert.deepEqual({ ...switched.body, token: undefined, sessionId: undefined, workflowUrl: undefined }, {
      token: undefined, sessionId: undefined, workflowUrl: undefined, tenant: 'other', capabilities: ['view'], endpointIds: null, operator: true, expiresAt: exchanged.body.expiresAt,
    });
    const inOther = as(switched.body.token);
    assert.deepEqual((await inOther('GET', '/v1/endpoints')).body.data.map((e: { id: string }) => e.id).includes(otherEndpoint.id), true);
    assert.equal((await inOther('PATCH', `/v1/endpoints/${otherEndpoint.id}`, { enabled: false })).status, 403, 'the same capabilities');
    assert.equal((await operator('POST', '/v1/portal/switch', { tenant: 'nobody' })).status, 404);
    assert.equal((await operator('POST', '/v1/portal/switch', { tenant: 'bad tenant' })).status, 400);

    const tenantSession = as((await open(acmeKey, { capabilities: everything })).exchanged.body.token);
    const narrowedOperator = as((await open(ADMIN_KEY, { tenant: 'other', capabilities: ['view'], endpointIds: [otherEndpoint.id] })).exchanged.body.token);
    for (const refused of [tenantSession, narrowedOperator]) {
      assert.equal((await refused('GET', '/v1/tenants')).status, 403);
      assert.equal((await refused('POST', '/v1/portal/switch', { tenant: 'acme' })).status, 403);
    }
    assert.equal((await as(acmeKey)('POST', '/v1/portal/switch', { tenant: 'other' })).status, 403, 'nor a tenant key');

    assert.equal((await admin('DELETE', '/v1/portal/sessions/operator-switch?tenant=acme')).status, 204);
    assert.equal((await inOther('GET', '/v1/endpoints')).status, 401, 'the switched session ends with the operator\'s');
  });

  test('the page is served with a strict CSP whose frame-ancestors come from the tenant\'s allow-list', async () => {
    const page = await fetch(`${herald.apiUrl}/portal/?tenant=acme`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'self'(;|$)/);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');

    const refused = await as(acmeKey)('PUT', '/v1/portal/frame-ancestors', { origins: ['https://app.example.com/path'] });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body.errors.map((e: { field: string }) => e.field), ['origins.0']);
    assert.equal((await as(acmeKey)('PUT', '/v1/portal/frame-ancestors', { origins: ['https://app.example.com'] })).status, 200);
    assert.deepEqual((await as(acmeKey)('GET', '/v1/portal/frame-ancestors')).body, { tenant: 'acme', origins: ['https://app.example.com'] });
    const framed = await fetch(`${herald.apiUrl}/portal/?tenant=acme`);
    assert.match(framed.headers.get('content-security-policy')!, /frame-ancestors 'self' https:\/\/app\.example\.com(;|$)/);
    const otherTenant = await fetch(`${herald.apiUrl}/portal/?tenant=other`);
    assert.match(otherTenant.headers.get('content-security-policy')!, /frame-ancestors 'self'(;|$)/);
    const script = await fetch(`${herald.apiUrl}/portal/app.js`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type')!, /javascript/);
  });
});
