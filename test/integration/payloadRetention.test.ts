import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { isGrpcServiceError } from '@temporalio/client';
import { openDb } from '../../src/storage/db.ts';
import { eventually } from '../support/eventually.ts';
import { waitForDeliveryStatus } from '../support/herald.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import { startPostgres } from '../support/postgres.ts';

// On PostgreSQL, so the test can search every table of Herald's database while Herald runs.
const postgres = await startPostgres();
const databaseUrl = await postgres.createDatabase('retention');
const { herald, createEndpoint, stop } = await startHeraldWithReceiver({
  DATABASE_URL: databaseUrl, HERALD_ALLOW_PRIVATE_TARGETS: 'true', HERALD_PAYLOAD_RETENTION: '1h',
});
const db = await openDb({ databaseUrl, dataDir: '' });
after(async () => {
  await db.close();
  await stop();
  await postgres.stop();
});

/** What each tenant's events carry and its receiver echoes back into the attempt log's excerpts. */
const personal = (tenant: string) => `${tenant}-patient@example.com`;

/** Every row of every table of Herald's database, as text. */
async function databaseText(): Promise<string> {
  const tables = await db.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`);
  const rows = await Promise.all(tables.map(({ table_name }) => db.query(`SELECT row_to_json(t)::text AS row FROM "${table_name}" t`)));
  return JSON.stringify(rows);
}

/** Whether Temporal still has any execution of the event's workflow (listed, or its history readable). */
async function inTemporal(tenant: string, eventId: string): Promise<boolean> {
  const workflowId = `event:${tenant}:${eventId}`;
  for await (const _ of herald.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) return true;
  try {
    await herald.client.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId } });
    return true;
  } catch (err) {
    if (isGrpcServiceError(err) && err.code === 5) return false;
    throw err;
  }
}

test("past a tenant's payload retention its event data is found nowhere, ids and status codes remain; another tenant's stays", async () => {
  const short = await herald.api('POST', '/v1/tenants', { id: 'clinic', payloadRetention: '3s' });
  assert.equal(short.status, 201, JSON.stringify(short.body));
  assert.equal(short.body.payloadRetention, '3s');
  const sent: Record<string, string> = {};
  for (const tenant of ['clinic', 'default']) {
    const endpoint = await createEndpoint({ path: `/${tenant}`, eventTypes: ['booking.*'], tenant, replies: [{ status: 200, body: `booked ${personal(tenant)}` }] });
    const posted = await herald.api('POST', '/v1/events', { id: `${tenant}-1`, tenant, type: 'booking.made', data: { email: personal(tenant) } });
    assert.equal(posted.status, 202);
    sent[tenant] = `delivery:${tenant}:${tenant}-1:${endpoint.id}`;
    await waitForDeliveryStatus(herald, sent[tenant]!, 'delivered');
  }
  assert.ok((await databaseText()).includes(personal('clinic')));
  await new Promise((resolve) => setTimeout(resolve, 3_500)); // past the clinic's 3 s

  // Herald created the schedule at start; run it now rather than wait a day.
  await herald.client.schedule.getHandle('herald-prune-delivery-log').trigger();
  await eventually(() => inTemporal('clinic', 'clinic-1'), (found) => !found, 60_000, 250);
  await eventually(databaseText, (text) => !text.includes(personal('clinic')), 30_000, 250);

  const clinic = await herald.api('GET', `/v1/deliveries/${sent.clinic}`);
  assert.equal(clinic.body.status, 'delivered');
  assert.equal(clinic.body.attempts[0].statusCode, 200);
  assert.equal(clinic.body.attempts[0].responseExcerpt, null);
  assert.equal((await herald.api('GET', '/v1/events/clinic-1?tenant=clinic')).status, 404);
  assert.equal((await herald.api('POST', '/v1/events', { id: 'clinic-1', tenant: 'clinic', type: 'booking.made' })).body.status, 'duplicate');

  // The default tenant keeps its data for HERALD_PAYLOAD_RETENTION (1 h).
  assert.equal(await inTemporal('default', 'default-1'), true);
  assert.equal((await herald.api('GET', '/v1/events/default-1')).body.event.data.email, personal('default'));
  assert.equal((await herald.api('GET', `/v1/deliveries/${sent.default}`)).body.attempts[0].responseExcerpt, `booked ${personal('default')}`);
  assert.ok((await databaseText()).includes(personal('default')));
});

test('a payload retention that is not a duration is refused naming the field', async () => {
  const refused = await herald.api('POST', '/v1/tenants', { id: 'bad-retention', payloadRetention: 'a month' });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.errors[0].field, 'payloadRetention');
  const patched = await herald.api('PATCH', '/v1/tenants/default', { payloadRetention: '0d' });
  assert.equal(patched.status, 400);
  assert.equal(patched.body.errors[0].field, 'payloadRetention');
  const changed = await herald.api('PATCH', '/v1/tenants/default', { payloadRetention: '90d' });
  assert.equal(changed.status, 200);
  assert.equal(changed.body.payloadRetention, '90d');
  assert.equal((await herald.api('PATCH', '/v1/tenants/default', { payloadRetention: null })).body.payloadRetention, null);
});
