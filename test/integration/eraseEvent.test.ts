import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { isGrpcServiceError } from '@temporalio/client';
import { eventually } from '../support/eventually.ts';
import { waitForDeliveryStatus, type TestHerald } from '../support/herald.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const { herald, receiver, createEndpoint, stop } = await startHeraldWithReceiver({ HERALD_ALLOW_PRIVATE_TARGETS: 'true' });
after(stop);
// Without HERALD_API_KEY, a request without a tenant key acts as the admin.
const api = (method: string, route: string, body?: unknown) => herald.api(method, route, body);

/** Personal data a receiver echoes back: found in the attempt log's excerpts until the event is erased. */
const PERSONAL = 'alice@example.com';
const echo = (status: number) => ({ status, body: `got ${PERSONAL}` });

/** Every execution of the event's workflow and its parts that Temporal still lists or can show the history of. */
async function executionsOf(h: TestHerald, eventId: string): Promise<number> {
  const workflowId = `event:default:${eventId}`;
  let listed = 0;
  for await (const _ of h.client.workflow.list({ query: `WorkflowId = '${workflowId}' OR WorkflowId STARTS_WITH '${workflowId}/'` })) listed++;
  try {
    await h.client.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId } });
    return listed + 1;
  } catch (err) {
    if (isGrpcServiceError(err) && err.code === 5) return listed;
    throw err;
  }
}

async function erase(eventId: string) {
  const answer = await api('DELETE', `/v1/events/${eventId}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

/** After an erasure: Temporal has no history, the same id is a duplicate, the excerpts are blank, the status codes stay. */
async function assertErased(eventId: string, deliveryId: string, statusCode: number) {
  await eventually(() => executionsOf(herald, eventId), (n) => n === 0, 30_000, 200);
  const again = await api('POST', '/v1/events', { id: eventId, type: 'order.paid', data: { email: PERSONAL } });
  assert.equal(again.status, 200);
  assert.equal(again.body.status, 'duplicate');
  const delivery = await api('GET', `/v1/deliveries/${deliveryId}`);
  assert.equal(delivery.status, 200);
  assert.ok(delivery.body.attempts.length >= 1);
  assert.ok(delivery.body.attempts.every((a: { responseExcerpt: string | null }) => a.responseExcerpt === null));
  assert.equal(delivery.body.attempts[0].statusCode, statusCode);
  assert.ok(!JSON.stringify(delivery.body).includes(PERSONAL));
  assert.equal((await api('GET', `/v1/events/${eventId}`)).status, 404);
}

test('erasing a delivered event deletes its workflow, blanks its excerpts and keeps its id a duplicate; erasing again removes nothing more', async () => {
  const endpoint = await createEndpoint({ path: '/erase-delivered', eventTypes: ['order.*'], replies: [echo(200)] });
  assert.equal((await api('POST', '/v1/events', { id: 'erase-delivered', type: 'order.paid', data: { email: PERSONAL } })).status, 202);
  const deliveryId = `delivery:default:erase-delivered:${endpoint.id}`;
  const delivered = await waitForDeliveryStatus(herald, deliveryId, 'delivered');
  assert.equal(delivered.attempts[0]?.responseExcerpt, `got ${PERSONAL}`);

  const first = await erase('erase-delivered');
  assert.equal(first.eventId, 'erase-delivered');
  assert.ok(first.removed.workflowExecutions >= 1);
  assert.deepEqual({ cancelled: first.removed.deliveriesCancelled, excerpts: first.removed.attemptExcerpts }, { cancelled: 0, excerpts: 1 });
  await assertErased('erase-delivered', deliveryId, 200);
  assert.equal(receiver.received('/erase-delivered').length, 1);

  const second = await erase('erase-delivered');
  assert.equal(second.erasedAt, first.erasedAt);
  assert.deepEqual(second.removed, { workflowExecutions: 0, deliveriesCancelled: 0, attemptExcerpts: 0 });
});

test('erasing a dead letter ends it: its workflow is gone and a replay finds nothing to send', async () => {
  const endpoint = await createEndpoint({ path: '/erase-dead', eventTypes: ['invoice.*'], replies: [echo(400)] });
  assert.equal((await api('POST', '/v1/events', { id: 'erase-dead', type: 'invoice.sent', data: { email: PERSONAL } })).status, 202);
  const deliveryId = `delivery:default:erase-dead:${endpoint.id}`;
  await waitForDeliveryStatus(herald, deliveryId, 'failed');
  assert.equal(await herald.temporal.isRunning('default', 'erase-dead'), true); // parked as a dead letter

  const erased = await erase('erase-dead');
  assert.equal(erased.removed.workflowExecutions, 1);
  assert.equal(erased.removed.attemptExcerpts, 1);
  await assertErased('erase-dead', deliveryId, 400);
  assert.equal((await api('POST', `/v1/deliveries/${deliveryId}/replay`)).status, 404);
  assert.equal(receiver.received('/erase-dead').length, 1);
});

test('erasing an event still retrying against a receiver that is down stops its attempts', async () => {
  const endpoint = await createEndpoint({
    path: '/erase-retrying', eventTypes: ['booking.*'], replies: [echo(503)], retryPolicy: { schedule: Array(20).fill('1s') },
  });
  assert.equal((await api('POST', '/v1/events', { id: 'erase-retrying', type: 'booking.made', data: { email: PERSONAL } })).status, 202);
  const deliveryId = `delivery:default:erase-retrying:${endpoint.id}`;
  await receiver.waitFor('/erase-retrying', 2);

  const erased = await erase('erase-retrying');
  assert.equal(erased.removed.workflowExecutions, 1);
  assert.equal(erased.removed.deliveriesCancelled, 1);
  await assertErased('erase-retrying', deliveryId, 503);
  assert.equal((await api('GET', `/v1/deliveries/${deliveryId}`)).body.status, 'cancelled');
  // Three of its 1 s retry intervals pass with nothing more arriving.
  const arrived = receiver.received('/erase-retrying').length;
  await new Promise((resolve) => setTimeout(resolve, 3_500));
  assert.equal(receiver.received('/erase-retrying').length, arrived);
});

test("a tenant key cannot erase another tenant's event; an unknown event is a 404; a bad id names the field", async () => {
  await createEndpoint({ path: '/erase-other', eventTypes: ['order.*'] });
  assert.equal((await api('POST', '/v1/events', { id: 'erase-other', type: 'order.paid' })).status, 202);
  assert.equal((await api('POST', '/v1/tenants', { id: 'erase-tenant' })).status, 201);
  const key = (await api('POST', '/v1/tenants/erase-tenant/keys', {})).body.key;
  const asTenant = { authorization: `Bearer ${key}` };
  assert.equal((await herald.api('DELETE', '/v1/events/erase-other', undefined, asTenant)).status, 404);
  assert.equal((await herald.api('DELETE', '/v1/events/erase-other?tenant=default', undefined, asTenant)).status, 403);
  assert.equal(await herald.temporal.isRunning('default', 'erase-other') !== undefined, true);
  assert.equal((await api('DELETE', '/v1/events/never-sent')).status, 404);
  const bad = await api('DELETE', '/v1/events/not%20an%20id');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.errors[0].field, 'eventId');
});
