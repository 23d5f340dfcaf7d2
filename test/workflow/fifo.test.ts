import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { RetryPolicy } from '../../src/delivery/retryPolicy.ts';
import { subscriptionFor } from '../../src/endpoints/subscription.ts';
import { generateSecret } from '../../src/signing/index.ts';
import { deliveryId, eventWorkflowId } from '../../src/temporal/heraldTemporal.ts';
import { startTimeSkippingHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import type { Reply } from '../support/receiver.ts';

const EVENTS = 50;
/** The event whose deliveries the receiver fails. */
const TROUBLED = 9;

const { herald, receiver, stop } = await startTimeSkippingHeraldWithReceiver();
after(stop);

/** A FIFO endpoint of a tenant of its own, and 50 events accepted for it one after another, as the API does. */
async function fifoEndpoint(tenant: string, onFailure: 'block' | 'skip', retryPolicy: RetryPolicy, troubled: (failuresSoFar: number) => Reply) {
  let failures = 0;
  const endpoint = await herald.endpoints.create({
    tenant, url: receiver.respond(`/${tenant}`, (request) => {
      if (JSON.parse(request.body).data.index !== TROUBLED) return { status: 200 };
      const reply = troubled(failures);
      if (typeof reply === 'object' && reply.status >= 300) failures++;
      return reply;
    }),
    description: '', eventTypes: ['*'], retryPolicy, timeoutMs: 15_000, format: 'standard',
    signature: { scheme: 'standard-webhooks' }, headers: {}, enabled: true, secret: generateSecret(), ordering: 'fifo', onFailure,
  });
  const ids = Array.from({ length: EVENTS }, (_, index) => `evt_${index}`);
  for (const [index, id] of ids.entries()) {
    const event = { tenant, id, type: 'order.submitted', occurredAt: new Date().toISOString(), data: { index } };
    assert.equal(await herald.temporal.ingest(event, [subscriptionFor(endpoint)], 10_000), 'accepted');
    await herald.log.registerPending(event, [{ id: deliveryId(tenant, id, endpoint.id), endpointId: endpoint.id }]);
  }
  const results = async (which: string[]) => {
    // One at a time: each unlocks time skipping while it waits, and the test server refuses overlapping unlocks.
    for (const id of which) await herald.env.client.workflow.getHandle(eventWorkflowId(tenant, id)).result().catch(() => undefined);
  };
  return { endpoint, ids, results, path: `/${tenant}` };
}

/**
 * The cancels (of a timer or an activity) in the event workflows' histories. A line must move without any: the
 * time-skipping server refuses a workflow task that cancels a timer which fired while the task ran, and the
 * workflow, with the line behind it, then stalls.
 */
async function cancels(tenant: string, ids: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const id of ids) {
    const { events } = await herald.env.client.workflow.getHandle(eventWorkflowId(tenant, id)).fetchHistory();
    for (const event of events ?? []) {
      if (event.timerCanceledEventAttributes) found.push(`${id}: TimerCanceled`);
      if (event.activityTaskCancelRequestedEventAttributes) found.push(`${id}: ActivityTaskCancelRequested`);
    }
  }
  return found;
}

/** The event index of each request the receiver got, in arrival order, and whether it was answered 2xx. */
const arrivals = (path: string) => receiver.received(path).map((r) => ({ index: JSON.parse(r.body).data.index as number, ok: r.status !== undefined && r.status < 300 }));

test('fifo with block: 50 events reach the receiver in ingest order, one at a time, the rest waiting while the 10th is retried', async () => {
  const { ids, results, path } = await fifoEndpoint('fifo-block', 'block', { schedule: ['1m', '1m', '1m', '1m'] }, (failures) => (failures < 3 ? { status: 503 } : { status: 200 }));
  await results(ids);
  const seen = arrivals(path);
  assert.deepEqual(seen.filter((a) => a.ok).map((a) => a.index), ids.map((_, index) => index), 'delivered in ingest order');
  // Nothing after the 10th was sent before it got through: its three failures come right after the 9th, then its success.
  assert.deepEqual(seen.slice(TROUBLED, TROUBLED + 4), [...Array(3).fill({ index: TROUBLED, ok: false }), { index: TROUBLED, ok: true }]);
  assert.equal(seen.length, EVENTS + 3);
  assert.deepEqual(await cancels('fifo-block', ids), [], 'nothing cancelled');
});

test('fifo with skip: the 10th failing for good is set aside, parked, and the rest go on in order', async () => {
  const { endpoint, ids, results, path } = await fifoEndpoint('fifo-skip', 'skip', { schedule: ['1m'] }, () => ({ status: 503 }));
  await results(ids.filter((_, index) => index !== TROUBLED));
  const seen = arrivals(path);
  assert.deepEqual(seen.filter((a) => a.ok).map((a) => a.index), ids.map((_, index) => index).filter((index) => index !== TROUBLED));
  assert.deepEqual(seen.slice(TROUBLED, TROUBLED + 2), [{ index: TROUBLED, ok: false }, { index: TROUBLED, ok: false }], 'its two attempts before the rest');
  const parked = await herald.log.get('fifo-skip', deliveryId('fifo-skip', ids[TROUBLED]!, endpoint.id));
  assert.equal(parked?.status, 'failed');
  assert.deepEqual(await cancels('fifo-skip', ids), [], 'nothing cancelled');
});
