import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const ADMIN_KEY = 'admin-key-for-the-audit-tests';
const { herald, receiver, stop } = await startHeraldWithReceiver({
  HERALD_API_KEY: ADMIN_KEY, HERALD_ALLOW_PRIVATE_TARGETS: 'true', HERALD_AUDIT_RETENTION: '4s',
});
after(stop);
const as = (key: string) => (method: string, route: string, body?: unknown) => herald.api(method, route, body, { authorization: `Bearer ${key}` });
const admin = as(ADMIN_KEY);

test('each management action leaves exactly one record naming its actor, no secret in any; a tenant reads only its own', async () => {
  assert.equal((await admin('POST', '/v1/tenants', { id: 'shop' })).status, 201);
  assert.equal((await admin('POST', '/v1/tenants', { id: 'rival' })).status, 201);
  const shopKey = (await admin('POST', '/v1/tenants/shop/keys', { name: 'orders' })).body;
  const rivalKey = (await admin('POST', '/v1/tenants/rival/keys', {})).body;
  const spareKey = (await admin('POST', '/v1/tenants/rival/keys', { name: 'spare' })).body;
  const shop = as(shopKey.key);
  const rival = as(rivalKey.key);

  const endpointSecret = 'whsec_' + Buffer.from('a secret of thirty-two bytes!!!!').toString('base64');
  const created = await shop('POST', '/v1/endpoints', {
    url: receiver.script('/audited', { status: 200 }), eventTypes: ['order.*'], secret: endpointSecret, headers: { authorization: 'Bearer receiver-credential' },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const endpoint = created.body.id;
  assert.equal((await shop('PATCH', `/v1/endpoints/${endpoint}`, { description: 'orders to the ERP' })).status, 200);
  const rotated = await shop('POST', `/v1/endpoints/${endpoint}/rotate-secret`, {});
  assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  assert.equal((await shop('POST', '/v1/events', { id: 'audited-1', type: 'order.paid' })).status, 202); // ingest: not a management action
  const deliveryId = `delivery:shop:audited-1:${endpoint}`;
  assert.equal((await shop('POST', `/v1/deliveries/${deliveryId}/replay`)).status, 202);
  const link = await shop('POST', '/v1/portal/sessions', { capabilities: ['view'], sessionId: 'support-desk' });
  assert.equal(link.status, 201, JSON.stringify(link.body));
  assert.equal((await shop('DELETE', '/v1/portal/sessions/support-desk')).status, 204);
  assert.equal((await shop('DELETE', '/v1/events/audited-1')).status, 200);
  assert.equal((await admin('DELETE', `/v1/tenants/shop/keys/${spareKey.id}`)).status, 404); // refused: not recorded
  assert.equal((await admin('DELETE', `/v1/tenants/rival/keys/${spareKey.id}`)).status, 204);

  const expected = [
    ['admin', 'POST /v1/tenants', 'shop'], ['admin', 'POST /v1/tenants', 'rival'],
    ['admin', 'POST /v1/tenants/:tenantId/keys', 'shop'], ['admin', 'POST /v1/tenants/:tenantId/keys', 'rival'], ['admin', 'POST /v1/tenants/:tenantId/keys', 'rival'],
    [`key:${shopKey.id}`, 'POST /v1/endpoints', 'shop'], [`key:${shopKey.id}`, 'PATCH /v1/endpoints/:id', 'shop'],
    [`key:${shopKey.id}`, 'POST /v1/endpoints/:id/rotate-secret', 'shop'], [`key:${shopKey.id}`, 'POST /v1/deliveries/:deliveryId/replay', 'shop'],
    [`key:${shopKey.id}`, 'POST /v1/portal/sessions', 'shop'], [`key:${shopKey.id}`, 'DELETE /v1/portal/sessions/:sessionId', 'shop'],
    [`key:${shopKey.id}`, 'DELETE /v1/events/:eventId', 'shop'], ['admin', 'DELETE /v1/tenants/:tenantId/keys/:keyId', 'rival'],
  ];
  const all = await eventually(() => admin('GET', '/v1/audit'), (r) => r.body?.data?.length >= expected.length, 30_000, 100);
  assert.deepEqual(all.body.data.map((r: { actor: string; action: string; tenant: string }) => [r.actor, r.action, r.tenant]), expected);
  assert.equal(all.body.data.find((r: { action: string }) => r.action === 'POST /v1/endpoints').target, `/v1/endpoints/${endpoint}`);
  assert.equal(all.body.data.find((r: { action: string }) => r.action === 'PATCH /v1/endpoints/:id').changes.description, 'orders to the ERP');

  const text = JSON.stringify(all.body);
  for (const secret of [ADMIN_KEY, shopKey.key, rivalKey.key, spareKey.key, endpointSecret, rotated.body.secret, 'receiver-credential', new URL(link.body.url).hash.slice(1)]) {
    assert.ok(secret && !text.includes(secret), `a secret in the audit log: ${secret}`);
  }

  const shopsOwn = await shop('GET', '/v1/audit');
  assert.ok(shopsOwn.body.data.length > 0 && shopsOwn.body.data.every((r: { tenant: string }) => r.tenant === 'shop'));
  assert.deepEqual((await rival('GET', '/v1/audit?tenant=shop')).status, 403);
  assert.ok((await rival('GET', '/v1/audit')).body.data.every((r: { tenant: string }) => r.tenant === 'rival'));
  const byTarget = await shop('GET', `/v1/audit?target=/v1/endpoints/${endpoint}`);
  assert.deepEqual(byTarget.body.data.map((r: { action: string }) => r.action), ['POST /v1/endpoints', 'PATCH /v1/endpoints/:id']);
  const page = await admin('GET', '/v1/audit?limit=2');
  assert.equal(page.body.data.length, 2);
  assert.equal((await admin('GET', `/v1/audit?limit=2&after=${page.body.nextCursor}`)).body.data[0].id, all.body.data[2].id);
  const bad = await admin('GET', '/v1/audit?since=yesterday');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.errors[0].field, 'since');
});

test('audit records older than HERALD_AUDIT_RETENTION are pruned by the Schedule; newer ones stay', async () => {
  assert.equal((await admin('POST', '/v1/tenants', { id: 'old-news' })).status, 201);
  await new Promise((resolve) => setTimeout(resolve, 4_500)); // past the 4 s retention
  assert.equal((await admin('POST', '/v1/tenants', { id: 'fresh' })).status, 201);
  await eventually(() => admin('GET', '/v1/audit?target=/v1/tenants/fresh'), (r) => r.body.data.length === 1, 30_000, 100);
  await herald.client.schedule.getHandle('herald-prune-delivery-log').trigger();
  await eventually(() => admin('GET', '/v1/audit?target=/v1/tenants/old-news'), (r) => r.body.data.length === 0, 30_000, 200);
  assert.equal((await admin('GET', '/v1/audit?target=/v1/tenants/fresh')).body.data.length, 1);
});
