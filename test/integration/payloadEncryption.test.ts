import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { verifyWebhook } from '../../src/receiver/index.ts';
import { eventually } from '../support/eventually.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { freePort } from '../support/ports.ts';
import { Receiver } from '../support/receiver.ts';
import { newTestDataDir } from '../support/suiteSetup.ts';

const { History } = proto.temporal.api.history.v1;
const newKey = () => crypto.randomBytes(32).toString('base64');

/** A workflow's history as Temporal stores it, read without any codec. */
async function rawHistory(client: Client, workflowId: string) {
  const { history } = await client.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId } });
  return History.create(history!);
}

/** Every payload (metadata naming an encoding) in a history but search attributes, plaintext by design, with where it sits. */
function payloadsIn(value: unknown, at = ''): { at: string; payload: Payload }[] {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return [];
  const metadata = (value as Payload).metadata;
  if (metadata && typeof metadata === 'object' && 'encoding' in metadata) return [{ at, payload: value as Payload }];
  return Object.entries(value).flatMap(([key, inner]) => (key === 'searchAttributes' ? [] : payloadsIn(inner, `${at}.${key}`)));
}

const metadataText = (payload: Payload, key: string) => Buffer.from(payload.metadata?.[key] ?? []).toString('utf8');

/** The remote codec protocol's JSON form: bytes as base64. */
const codecJson = (payload: Payload) => ({
  metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
  data: Buffer.from(payload.data ?? []).toString('base64'),
});

/** What a payload the codec endpoint answered holds, as its encoding and parsed JSON value. */
const decodedValue = (payload: { metadata: Record<string, string>; data: string }) => ({
  encoding: Buffer.from(payload.metadata.encoding!, 'base64').toString('utf8'),
  value: JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8')),
});

/** The input payload a workflow was started with. */
const startInput = (history: proto.temporal.api.history.v1.History) => history.events[0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;

describe('Herald with HERALD_PAYLOAD_KEYS and HERALD_API_KEY', () => {
  const ADMIN_KEY = 'codec-test-admin-key-0123456789';
  const KEY_ID = 'herald-test-2026';
  const EMAIL = 'ada.lovelace@example.com';
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  let herald: TestHerald;
  let receiver: Receiver;
  let uiOrigin: string;
  let eventPayload: Payload;

  before(async () => {
    receiver = await Receiver.start();
    const uiPort = await freePort();
    uiOrigin = `http://localhost:${uiPort}`;
    herald = await startTestHerald({ HERALD_PAYLOAD_KEYS: `${KEY_ID}:${newKey()}`, HERALD_API_KEY: ADMIN_KEY, HERALD_ALLOW_PRIVATE_TARGETS: 'true', HERALD_UI_PORT: String(uiPort) });
  });
  after(async () => {
    await herald?.stop();
    await receiver?.close();
  });

  test('the receiver gets the event in plaintext, signed; Temporal stores every payload encrypted', async () => {
    const endpoint = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/customers'), eventTypes: ['customer.*'] }, admin);
    assert.equal(endpoint.status, 201);
    const event = { id: 'cust-1', type: 'customer.created', data: { email: EMAIL, total: 42.5 } };
    assert.equal((await herald.api('POST', '/v1/events', event, admin)).status, 202);

    const [request] = await receiver.waitFor('/customers', 1);
    assert.deepEqual(JSON.parse(request!.body).data, event.data);
    assert.doesNotThrow(() => verifyWebhook(request!.body, request!.headers, endpoint.body.secret));

    // The API reads the event's recorded input through the codec.
    const deliveryId = `delivery:default:cust-1:${endpoint.body.id}`;
    await eventually(() => herald.api('GET', `/v1/deliveries/${deliveryId}`, undefined, admin), (r) => r.body?.status === 'delivered');
    assert.deepEqual((await herald.api('GET', '/v1/events/cust-1', undefined, admin)).body.event.data, event.data);

    for (const workflowId of ['event:default:cust-1']) {
      const history = await rawHistory(herald.client, workflowId);
      const stored = Buffer.from(History.encode(history).finish());
      assert.ok(!stored.includes(EMAIL), `${workflowId}: the email is nowhere in the stored history`);
      assert.ok(stored.includes('binary/encrypted') && stored.includes(KEY_ID), workflowId);
      const payloads = payloadsIn(History.toObject(history));
      assert.ok(payloads.length >= 3, `${workflowId}: input, activity input and result, workflow result (${payloads.length})`);
      const plaintext = payloads.filter(({ payload }) => metadataText(payload, 'encoding') !== 'binary/encrypted').map(({ at }) => at);
      assert.deepEqual(plaintext, [], `${workflowId}: every payload is encrypted`);
      assert.ok(payloads.every(({ payload }) => metadataText(payload, 'encryption-key-id') === KEY_ID));
      // Bound to their workflow (a child's input and summary to the child): one moved into another history is refused.
      const boundTo = new Set([workflowId, ...(workflowId === deliveryId ? [] : [deliveryId])]);
      const unbound = payloads.filter(({ payload }) => !boundTo.has(metadataText(payload, 'encryption-workflow-id')));
      assert.deepEqual(unbound.map(({ at }) => at), [], `${workflowId}: every payload is bound to its workflow`);
    }
    eventPayload = startInput(await rawHistory(herald.client, 'event:default:cust-1'));
  });

  test('POST /codec/decode with the admin key answers the plaintext payloads', async () => {
    const decoded = await herald.api('POST', '/codec/decode', { payloads: [codecJson(eventPayload)] }, { ...admin, 'x-namespace': 'default' });
    assert.equal(decoded.status, 200);
    const { encoding, value } = decodedValue(decoded.body.payloads[0]);
    assert.equal(encoding, 'json/plain');
    assert.equal(value.event.data.email, EMAIL);
  });

  test('POST /codec/encode encrypts with the current key, and decode reads it back', async () => {
    const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from(JSON.stringify({ email: EMAIL })).toString('base64') };
    const encoded = await herald.api('POST', '/codec/encode', { payloads: [plain] }, admin);
    assert.equal(encoded.status, 200);
    const [payload] = encoded.body.payloads;
    assert.equal(Buffer.from(payload.metadata['encryption-key-id'], 'base64').toString(), KEY_ID);
    assert.ok(!Buffer.from(payload.data, 'base64').includes(EMAIL));
    const decoded = await herald.api('POST', '/codec/decode', encoded.body, admin);
    assert.deepEqual(decodedValue(decoded.body.payloads[0]).value, { email: EMAIL });
  });

  test('the codec needs the admin key: none or a wrong one is 401, a tenant key 403', async () => {
    const body = { payloads: [codecJson(eventPayload)] };
    assert.equal((await herald.api('POST', '/codec/decode', body)).status, 401);
    assert.equal((await herald.api('POST', '/codec/decode', body, { authorization: 'Bearer not-the-admin-key-at-all' })).status, 401);
    assert.equal((await herald.api('POST', '/v1/tenants', { id: 'acme' }, admin)).status, 201);
    const tenantKey = (await herald.api('POST', '/v1/tenants/acme/keys', {}, admin)).body.key;
    const refused = await herald.api('POST', '/codec/decode', body, { authorization: `Bearer ${tenantKey}` });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.detail, 'using the payload codec needs the admin key');
  });

  test('bad bodies and unknown keys answer 400 naming the failing field', async () => {
    const missing = await herald.api('POST', '/codec/decode', {}, admin);
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.body.errors.map((e: { field: string }) => e.field), ['payloads']);
    const notBase64 = await herald.api('POST', '/codec/decode', { payloads: [{ metadata: {}, data: 'not base64!' }] }, admin);
    assert.equal(notBase64.status, 400);
    assert.deepEqual(notBase64.body.errors, [{ field: 'payloads.0.data', message: 'must be base64' }]);
    const foreign = codecJson(eventPayload);
    foreign.metadata['encryption-key-id'] = Buffer.from('retired-key').toString('base64');
    const unknownKey = await herald.api('POST', '/codec/decode', { payloads: [codecJson(eventPayload), foreign] }, admin);
    assert.equal(unknownKey.status, 400);
    assert.equal(unknownKey.body.errors.length, 1);
    assert.equal(unknownKey.body.errors[0].field, 'payloads.1');
    assert.match(unknownKey.body.errors[0].message, /key "retired-key"/);
  });

  test("a static header value reaches the receiver, but is nowhere in clear in Herald's embedded database (its WAL included)", async () => {
    const token = `RECEIVER-TOKEN-${crypto.randomBytes(8).toString('hex')}`;
    const endpoint = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/credential'), eventTypes: ['credential.*'], headers: { Authorization: `Bearer ${token}` } }, admin);
    assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
    assert.equal((await herald.api('POST', '/v1/events', { id: 'credential-1', type: 'credential.used' }, admin)).status, 202);
    const [request] = await receiver.waitFor('/credential', 1);
    assert.equal(request!.headers.authorization, `Bearer ${token}`);
    await eventually(() => herald.api('GET', `/v1/deliveries/delivery:default:credential-1:${endpoint.body.id}`, undefined, admin), (r) => r.body?.status === 'delivered');
    const files = fs.readdirSync(path.join(herald.dataDir, 'pglite'), { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
    assert.ok(files.length > 0);
    const holding = files.map((entry) => path.join(entry.parentPath, entry.name)).filter((file) => fs.readFileSync(file).includes(token));
    assert.deepEqual(holding, []);
  });

  test('CORS: the Web UI origin may preflight without a key; other origins get no CORS headers', async () => {
    const preflight = (origin: string) =>
      fetch(`${herald.apiUrl}/codec/decode`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-namespace' },
      });
    const allowed = await preflight(uiOrigin);
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), uiOrigin);
    assert.equal(allowed.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(allowed.headers.get('access-control-allow-headers'), 'Authorization, Content-Type, X-Namespace');
    assert.match(allowed.headers.get('access-control-allow-methods')!, /POST/);

    const refused = await preflight('https://elsewhere.example');
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
    assert.equal(refused.headers.get('access-control-allow-credentials'), null);

    const body = { payloads: [codecJson(eventPayload)] };
    const fromUi = await herald.api('POST', '/codec/decode', body, { ...admin, origin: uiOrigin });
    assert.equal(fromUi.status, 200);
    assert.equal(fromUi.headers.get('access-control-allow-origin'), uiOrigin);
    const fromElsewhere = await herald.api('POST', '/codec/decode', body, { ...admin, origin: 'https://elsewhere.example' });
    assert.equal(fromElsewhere.headers.get('access-control-allow-origin'), null);
    const unauthenticated = await herald.api('POST', '/codec/decode', body, { origin: uiOrigin });
    assert.equal(unauthenticated.status, 401, 'the POST itself needs the key');
    assert.equal(unauthenticated.headers.get('access-control-allow-origin'), uiOrigin, 'so the UI can read why');
  });
});

describe('Rotating the payload key', () => {
  let dataDir: string;
  const [k1, k2] = [`k1:${newKey()}`, `k2:${newKey()}`];
  let receiver: Receiver;
  let herald: TestHerald | undefined;
  before(async () => {
    // Both Heralds on one data dir, from the suite's migrated cluster (a new one costs 5 s of CPU).
    [receiver, dataDir] = await Promise.all([Receiver.start(), newTestDataDir('herald-rotation-', { embeddedDatabase: true })]);
  });
  after(async () => {
    await herald?.stop();
    await receiver?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('histories under the old key still decode and replay; new payloads use the new key', async () => {
    // Event A's only attempt fails: it is parked as a dead letter under k1.
    herald = await startTestHerald({ HERALD_DATA_DIR: dataDir, HERALD_PAYLOAD_KEYS: k1 });
    const endpoint = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/rotation', { status: 500 }, { status: 200 }), retryPolicy: 'none' });
    const deliveryA = `delivery:default:evt-a:${endpoint.body.id}`;
    assert.equal((await herald.api('POST', '/v1/events', { id: 'evt-a', type: 'order.paid', data: { email: 'a@example.com' } })).status, 202);
    await eventually(() => herald!.api('GET', `/v1/deliveries/${deliveryA}`), (r) => r.body?.status === 'failed');
    await herald.stop();

    // Rotated: k2 encrypts, k1 still decrypts.
    herald = await startTestHerald({ HERALD_DATA_DIR: dataDir, HERALD_PAYLOAD_KEYS: `${k2},${k1}` });
    assert.equal((await herald.api('POST', '/v1/events', { id: 'evt-b', type: 'order.paid', data: { email: 'b@example.com' } })).status, 202);
    await eventually(() => herald!.api('GET', `/v1/deliveries/delivery:default:evt-b:${endpoint.body.id}`), (r) => r.body?.status === 'delivered');

    // A fresh worker replays A's k1 history to take the replay signal, then delivers it.
    assert.equal((await herald.api('POST', `/v1/deliveries/${deliveryA}/replay`)).status, 202);
    const replayed = await eventually(() => herald!.api('GET', `/v1/deliveries/${deliveryA}`), (r) => r.body?.status === 'delivered');
    assert.deepEqual(replayed.body.attempts.map((a: { statusCode: number }) => a.statusCode), [500, 200]);
    const bodies = (await receiver.waitFor('/rotation', 3)).map((r) => JSON.parse(r.body).data.email);
    assert.deepEqual(bodies, ['a@example.com', 'b@example.com', 'a@example.com']);

    const inputs = { a: startInput(await rawHistory(herald.client, 'event:default:evt-a')), b: startInput(await rawHistory(herald.client, 'event:default:evt-b')) };
    assert.equal(metadataText(inputs.a, 'encryption-key-id'), 'k1');
    assert.equal(metadataText(inputs.b, 'encryption-key-id'), 'k2');
    const decoded = await herald.api('POST', '/codec/decode', { payloads: [codecJson(inputs.a), codecJson(inputs.b)] });
    assert.equal(decoded.status, 200);
    assert.deepEqual(decoded.body.payloads.map((p: Parameters<typeof decodedValue>[0]) => decodedValue(p).value.event.data.email), ['a@example.com', 'b@example.com']);

    // A's history now holds both: what was written before the rotation and after.
    const keyIds = new Set(payloadsIn(History.toObject(await rawHistory(herald.client, 'event:default:evt-a'))).map(({ payload }) => metadataText(payload, 'encryption-key-id')));
    assert.deepEqual([...keyIds].sort(), ['k1', 'k2']);
  });
});
