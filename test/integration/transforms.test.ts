import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, describe, test } from 'node:test';
import { messageIdFor } from '../../src/delivery/classify.ts';
import { eventually } from '../support/eventually.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const ADMIN_KEY = 'admin-key-for-the-transforms-test';
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

/** A SaaS-style body and headers, as a tenant would declare them. */
const transform = {
  body: '{ "event_type": event.type, "event_id": event.id, "timestamp": event.occurredAt, "attempt": attempt.number, "data": event.data }',
  headers: { 'User-Agent': '"Sonicus-Webhooks/1.0"', 'X-Sonicus-Event-ID': 'event.id', 'X-Sonicus-Timestamp': 'attempt.sentAt' },
};
const signature = { scheme: 'hmac-sha256', header: 'X-Sonicus-Signature', headerPrefix: 'X-Sonicus-' };
const hmac = (secret: string, body: string) => `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;

const { herald, receiver, stop } = await startHeraldWithReceiver({ HERALD_API_KEY: ADMIN_KEY, HERALD_ALLOW_PRIVATE_TARGETS: 'true' });
after(stop);

describe('request transforms, previews and test sends on the embedded Temporal dev server', () => {
  const api = (method: string, route: string, body?: unknown, headers: Record<string, string> = admin) => herald.api(method, route, body, headers);

  test('a transform is applied at a real receiver: its body, its headers, the signature over the transformed body', async () => {
    const secret = 'sonicus-signing-key';
    const created = await api('POST', '/v1/endpoints', { url: receiver.script('/saas'), eventTypes: ['organization.created'], signature, secret, transform });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.transform, transform);
    assert.equal((await api('POST', '/v1/events', { id: 'org-1', type: 'organization.created', occurredAt: '2025-08-07T16:20:52.123Z', data: { organization: { id: 'o1' } } })).status, 202);
    const [request] = await receiver.waitFor('/saas', 1);
    assert.equal(request!.body, '{"event_type":"organization.created","event_id":"org-1","timestamp":"2025-08-07T16:20:52.123Z","attempt":1,"data":{"organization":{"id":"o1"}}}');
    assert.equal(request!.headers['user-agent'], 'Sonicus-Webhooks/1.0');
    assert.equal(request!.headers['x-sonicus-event-id'], 'org-1');
    assert.match(String(request!.headers['x-sonicus-timestamp']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(request!.headers['x-sonicus-signature'], hmac(secret, request!.body));
    assert.equal(request!.headers['webhook-id'], messageIdFor('default', 'org-1'));
  });

  test('preview answers the exact request, saved or not, with secrets masked', async () => {
    const created = await api('POST', '/v1/endpoints', {
      url: receiver.script('/preview'), eventTypes: ['organization.created'], signature, secret: 'sonicus-signing-key', transform, headers: { Authorization: 'Bearer RECEIVER-TOKEN-xyz' },
    });
    const event = { type: 'organization.created', id: 'org-2', occurredAt: '2025-08-07T16:20:52.123Z', data: { organization: { id: 'o2' } } };
    const saved = await api('POST', `/v1/endpoints/${created.body.id}/preview`, { event });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    assert.equal(saved.body.method, 'POST');
    assert.equal(saved.body.url, `${receiver.url}/preview`);
    assert.equal(saved.body.body, '{"event_type":"organization.created","event_id":"org-2","timestamp":"2025-08-07T16:20:52.123Z","attempt":1,"data":{"organization":{"id":"o2"}}}');
    assert.equal(saved.body.headers['x-sonicus-signature'], '[masked]');
    assert.equal(saved.body.headers['user-agent'], 'Sonicus-Webhooks/1.0');
    assert.equal(saved.body.headers['x-sonicus-event'], 'organization.created');
    assert.ok(!JSON.stringify(saved.body).includes('sonicus-signing-key'));
    // A saved endpoint's static header values show as reading the endpoint shows them: they are the receiver's credentials.
    assert.equal(saved.body.headers.authorization, '********');
    assert.ok(!JSON.stringify(saved.body).includes('RECEIVER-TOKEN'));

    const unsaved = await api('POST', '/v1/endpoints/preview', {
      endpoint: { url: 'https://hook.example/order', format: 'make', sourceApp: 'pu_observatory', signature: 'shared-secret', secret: 'abc', headers: { 'User-Agent': 'PU-Observatory-Webhook/1.0' } },
      event: { type: 'order_submitted', id: 'ord-1', occurredAt: '2025-01-15T10:30:00.000Z', data: { status: 'pending_review' } },
    });
    assert.equal(unsaved.status, 200, JSON.stringify(unsaved.body));
    assert.equal(unsaved.body.body, '{"event_type":"order_submitted","source_app":"pu_observatory","request_id":"ord-1","submitted_at":"2025-01-15T10:30:00.000Z","status":"pending_review"}');
    assert.equal(unsaved.body.headers['x-webhook-secret'], '[masked]');
    assert.equal(unsaved.body.headers['user-agent'], 'PU-Observatory-Webhook/1.0');
  });

  test('a syntax error, a regex or a runaway expression is refused at create and patch with 400 naming the field', async () => {
    const create = (body: unknown) => api('POST', '/v1/endpoints', { url: receiver.script('/refused'), transform: body });
    const syntax = await create({ body: '{ "a": event.type ' });
    assert.equal(syntax.status, 400);
    assert.equal(syntax.body.errors[0].field, 'transform.body');
    assert.match(syntax.body.errors[0].message, /at position \d+/);
    const regex = await create({ headers: { 'X-Kind': '$match(event.type, /(a+)+$/).match' } });
    assert.deepEqual(regex.body.errors.map((e: { field: string }) => e.field), ['transform.headers.X-Kind']);
    assert.match(regex.body.errors[0].message, /regular expressions are not allowed/);
    const runaway = await create({ body: '($loop := function($n) { $loop($n + 1) }; $loop(0))' });
    assert.equal(runaway.status, 400);
    assert.equal(runaway.body.errors[0].field, 'transform.body');
    assert.match(runaway.body.errors[0].message, /took longer than \d+ ms/);
    const huge = await create({ body: '$reduce([1..64], function($s, $i) { $s & $s }, "x")' });
    assert.match(huge.body.errors[0].message, /string longer than/);
    const signatureHeader = await api('POST', '/v1/endpoints', { url: receiver.script('/refused'), signature, secret: 'sonicus-signing-key', transform: { headers: { 'X-Sonicus-Signature': '"forged"' } } });
    assert.deepEqual(signatureHeader.body.errors.map((e: { field: string }) => e.field), ['transform.headers.X-Sonicus-Signature']);

    const fine = await api('POST', '/v1/endpoints', { url: receiver.script('/refused') });
    const patched = await api('PATCH', `/v1/endpoints/${fine.body.id}`, { transform: { body: '[1..10000000]' } });
    assert.equal(patched.status, 400);
    assert.equal(patched.body.errors[0].field, 'transform.body');
  });

  test('an expression that runs away on a real event fails that delivery for good without stalling the worker', async () => {
    // Harmless on the sample event at create; loops forever when data.loop is set.
    const created = await api('POST', '/v1/endpoints', {
      url: receiver.script('/runaway'), eventTypes: ['job.*'], retryPolicy: { schedule: ['1s', '1s'] },
      transform: { body: 'event.data.loop ? ($spin := function($n) { $spin($n + 1) }; $spin(0)) : { "job": event.data.id }' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await api('POST', '/v1/events', { id: 'job-loop', type: 'job.run', data: { loop: true } })).status, 202);
    assert.equal((await api('POST', '/v1/events', { id: 'job-fine', type: 'job.run', data: { id: 7 } })).status, 202);
    const failed = await eventually(
      () => api('GET', `/v1/deliveries/delivery:default:job-loop:${created.body.id}`),
      (r) => r.body?.status === 'failed', 60_000, 200,
    );
    assert.equal(failed.body.attempts.length, 1, 'not retried: it would run away again');
    assert.match(failed.body.attempts[0].error, /^transform failed: transform\.body: took longer than \d+ ms/);
    const [delivered] = await receiver.waitFor('/runaway', 1);
    assert.equal(delivered!.body, '{"job":7}');
    assert.equal(receiver.received('/runaway').length, 1);
  });

  test('a body that gives no JSON value (a function) is a 400 naming it in previews, and fails its delivery for good at once', async () => {
    const lambda = await api('POST', '/v1/endpoints', { url: receiver.script('/lambda'), transform: { body: 'function($x) { $x }' } });
    assert.deepEqual([lambda.status, lambda.body.errors?.[0]?.field], [400, 'transform.body'], JSON.stringify(lambda.body));
    // A JSON value on the sample event, a function on any other: accepted at create, refused by preview, final at delivery.
    const body = 'event.id = "evt_sample" ? 1 : function($x) { $x }';
    const created = await api('POST', '/v1/endpoints', { url: receiver.script('/lambda'), eventTypes: ['lambda.*'], retryPolicy: 'none', transform: { body } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const event = { type: 'lambda.made', data: {} };
    const saved = await api('POST', `/v1/endpoints/${created.body.id}/preview`, { event });
    assert.deepEqual([saved.status, saved.body.errors?.[0]?.field], [400, 'transform.body'], JSON.stringify(saved.body));
    const unsaved = await api('POST', '/v1/endpoints/preview', { endpoint: { url: receiver.script('/lambda'), transform: { body } }, event });
    assert.deepEqual([unsaved.status, unsaved.body.errors?.[0]?.field], [400, 'transform.body'], JSON.stringify(unsaved.body));

    assert.equal((await api('POST', '/v1/events', { id: 'lambda-1', type: 'lambda.made', data: {} })).status, 202);
    const failed = await eventually(() => api('GET', `/v1/deliveries/delivery:default:lambda-1:${created.body.id}`), (r) => r.body?.status === 'failed', 30_000, 100);
    assert.equal(failed.body.attempts.length, 1);
    assert.match(failed.body.attempts[0].error, /^transform failed: transform\.body: /);
    assert.deepEqual(receiver.received('/lambda'), []);
  });

  test('a transform may not set the headers static headers may not: they frame or upgrade the request', async () => {
    for (const name of ['Expect', 'Upgrade', 'TE', 'Keep-Alive', 'Content-Encoding', 'Transfer-Encoding', 'Host']) {
      const refused = await api('POST', '/v1/endpoints', { url: receiver.script('/framing'), transform: { headers: { [name]: '"x"' } } });
      assert.deepEqual([refused.status, refused.body.errors?.map((e: { field: string }) => e.field)], [400, [`transform.headers.${name}`]], name);
    }
  });

  test('a one-off test send to a URL answers success, status, time and error, marked as a test', async () => {
    receiver.script('/one-off-down', { status: 503 });
    const ok = await api('POST', '/v1/endpoints/test-send', { url: receiver.script('/one-off'), data: { custom: 'test data' }, signature, secret: 'sonicus-signing-key' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual({ ...ok.body, responseTimeMs: typeof ok.body.responseTimeMs }, { success: true, statusCode: 200, responseTimeMs: 'number', error: null });
    const [request] = receiver.received('/one-off');
    assert.equal(request!.headers['herald-test'], 'true');
    assert.deepEqual(JSON.parse(request!.body).data, { custom: 'test data' });
    const down = await api('POST', '/v1/endpoints/test-send', { url: `${receiver.url}/one-off-down` });
    assert.deepEqual([down.body.success, down.body.statusCode, down.body.error], [false, 503, 'HTTP 503']);
  });

  test('/test sends the payload the caller chooses, recognisable as a test', async () => {
    const created = await api('POST', '/v1/endpoints', { url: receiver.script('/chosen'), format: 'make', signature: 'shared-secret', secret: 'k', eventTypes: ['order_submitted'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const sent = await api('POST', `/v1/endpoints/${created.body.id}/test`, { type: 'order_submitted', data: { status: 'test', product_name: 'Sample' } });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    assert.equal(sent.body.statusCode, 200);
    const [request] = receiver.received('/chosen');
    const body = JSON.parse(request!.body);
    assert.deepEqual([body.event_type, body.status, body.product_name], ['order_submitted', 'test', 'Sample']);
    assert.match(body.request_id, /^test@/);
    assert.equal(request!.headers['herald-test'], 'true');
    assert.equal(request!.headers['x-webhook-secret'], 'k');
  });

  test("an all-tenant endpoint receives every tenant's events; only the admin key may create or see it", async () => {
    assert.equal((await api('POST', '/v1/tenants', { id: 'org-a' })).status, 201);
    const key = (await api('POST', '/v1/tenants/org-a/keys', { name: 'tests' })).body.key;
    const asTenant = { authorization: `Bearer ${key}` };
    const refused = await api('POST', '/v1/endpoints', { url: receiver.script('/everyone'), allTenants: true }, asTenant);
    assert.equal(refused.status, 403);
    const created = await api('POST', '/v1/endpoints', { url: receiver.script('/everyone'), eventTypes: ['organization.created'], allTenants: true, tenant: 'org-a' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await api('GET', `/v1/endpoints/${created.body.id}`, undefined, asTenant)).status, 404);
    for (const tenant of ['org-a', 'org-b']) {
      assert.equal((await api('POST', '/v1/events', { id: `new-${tenant}`, tenant, type: 'organization.created', data: {} })).status, 202);
    }
    const requests = await receiver.waitFor('/everyone', 2);
    assert.deepEqual(new Set(requests.map((r) => r.headers['webhook-id'])), new Set([messageIdFor('org-a', 'new-org-a'), messageIdFor('org-b', 'new-org-b')]));
  });
});
