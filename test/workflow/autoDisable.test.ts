import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { subscriptionFor } from '../../src/endpoints/subscription.ts';
import { endpointHealth, resetTraffic } from '../../src/endpoints/trafficControl.ts';
import { generateSecret } from '../../src/signing/index.ts';
import type { Endpoint, NewEndpoint } from '../../src/endpoints/store.ts';
import { deliveryId, eventWorkflowId } from '../../src/temporal/heraldTemporal.ts';
import { eventually } from '../support/eventually.ts';
import { startTimeSkippingHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const HOUR = 3_600_000, DAY = 24 * HOUR;

// Herald's defaults (disabled after 5 days of continuous failure); dead letters kept past the test's week.
const { herald, receiver, stop } = await startTimeSkippingHeraldWithReceiver({ deadLetterRetentionMs: 14 * DAY });
after(stop);

test('an endpoint down for 5 days of workflow time is disabled, an operator endpoint is told, and re-enabling it and recover lose nothing', async () => {
  const tenant = 'shop';
  let receiverUp = false;
  const endpointSettings = (url: string, eventTypes: string[]): NewEndpoint => ({
    tenant, url, description: '', eventTypes, retryPolicy: 'standard', timeoutMs: 15_000, format: 'standard',
    signature: { scheme: 'standard-webhooks' }, headers: {}, enabled: true, secret: generateSecret(),
  });
  const failing: Endpoint = await herald.endpoints.create(endpointSettings(receiver.respond('/down', () => ({ status: receiverUp ? 200 : 503 })), ['order.*']));
  const operator = await herald.endpoints.create(endpointSettings(receiver.script('/operator', { status: 200 }), ['herald.endpoint.*']));

  // One event a day for six days (the standard schedule gives each about 28 hours of attempts).
  const eventIds: string[] = [];
  for (let day = 0; day < 6; day++) {
    const id = `order_${day}`;
    eventIds.push(id);
    const event = { tenant, id, type: 'order.submitted', occurredAt: new Date().toISOString(), data: { eventId: id } };
    assert.equal(await herald.temporal.ingest(event, [subscriptionFor(failing)], 10_000), 'accepted');
    await herald.log.registerPending(event, [{ id: deliveryId(tenant, id, failing.id), endpointId: failing.id }]);
    await herald.env.sleep(DAY);
  }
  await herald.env.sleep(2 * HOUR);

  assert.equal((await herald.endpoints.get(tenant, failing.id))!.enabled, false, 'disabled');
  assert.equal((await endpointHealth(herald.db, (await herald.endpoints.get(tenant, failing.id))!)).state, 'disabled');
  // Its deliveries still under way parked as dead letters, saying why.
  const failed = await herald.log.list({ tenant, endpointId: failing.id, status: 'failed' }, { limit: 100 });
  assert.deepEqual(failed.data.map((d) => d.eventId).sort(), eventIds);
  assert.ok(failed.data.some((d) => d.lastError === 'endpoint is disabled'), JSON.stringify(failed.data.map((d) => d.lastError)));

  // The operator endpoint receives herald.endpoint.disabled about it, signed like any event.
  const notices = await eventually(async () => receiver.received('/operator').map((r) => ({ ...JSON.parse(r.body), signed: Boolean(r.headers['webhook-signature']) })),
    (list) => list.some((n) => n.type === 'herald.endpoint.disabled'), 20_000, 100);
  const disabled = notices.filter((n) => n.type === 'herald.endpoint.disabled');
  assert.equal(disabled.length, 1);
  assert.equal(disabled[0].data.endpointId, failing.id);
  assert.ok(disabled[0].signed);
  assert.ok(notices.some((n) => n.type === 'herald.endpoint.circuit_opened'), 'told of the circuit opening too');
  assert.equal(receiver.received('/operator').length, notices.length);

  // The receiver is fixed; the endpoint is re-enabled (as PATCH enabled: true does) and its failed deliveries recovered.
  receiverUp = true;
  await herald.endpoints.update(tenant, failing.id, { enabled: true });
  await resetTraffic(herald.db, failing.id);
  const endpoint = (await herald.endpoints.get(tenant, failing.id))!;
  for (const delivery of failed.data) {
    await herald.log.markReplaying(delivery.id);
    assert.equal(await herald.temporal.replay(delivery.id, subscriptionFor(endpoint)), 'replayed');
  }
  for (const id of eventIds) await herald.env.client.workflow.getHandle(eventWorkflowId(tenant, id)).result();
  assert.equal(receiver.delivered('/down').size, eventIds.length, 'every event delivered, once each by webhook-id');
  const requestsWhileDown = receiver.received('/down').filter((r) => r.status === 503).length;
  console.log(`five-day outage: disabled after ${requestsWhileDown} failed requests; ${notices.length} operational events; ${eventIds.length} events recovered`);
});
