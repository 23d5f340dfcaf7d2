import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { subscriptionFor } from '../../src/endpoints/subscription.ts';
import { endpointHealth } from '../../src/endpoints/trafficControl.ts';
import { generateSecret } from '../../src/signing/index.ts';
import type { Endpoint } from '../../src/endpoints/store.ts';
import { deliveryId, eventWorkflowId } from '../../src/temporal/heraldTemporal.ts';
import { startTimeSkippingHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const SECOND = 1000, MINUTE = 60 * SECOND, HOUR = 60 * MINUTE;
const OUTAGE_MS = 6 * HOUR;
const EVENTS = 30;
/** The standard schedule's attempts within six hours: at 0, 5 s, 5 m 5 s, 35 m 5 s and 2 h 35 m 5 s (the next is at 7 h 35 m). */
const SCHEDULED_ATTEMPTS_IN_OUTAGE = 5;

// Herald's defaults: the circuit opens after 10 consecutive failed attempts, cool-down from 1 minute doubling to 1 hour.
const { herald, receiver, stop } = await startTimeSkippingHeraldWithReceiver();
after(stop);

test('a receiver down for six hours of workflow time: the circuit opens, few requests reach it, and everything is delivered once it is back', async () => {
  const outageEndsAt = (await herald.env.currentTimeMs()) + OUTAGE_MS;
  const tenant = 'circuit';
  const endpoint: Endpoint = await herald.endpoints.create({
    tenant, url: receiver.respond('/down', async () => ((await herald.env.currentTimeMs()) < outageEndsAt ? { status: 503 } : { status: 200 })),
    description: '', eventTypes: ['*'], retryPolicy: 'standard', timeoutMs: 15_000, format: 'standard',
    signature: { scheme: 'standard-webhooks' }, headers: {}, enabled: true, secret: generateSecret(),
  });
  const eventIds = Array.from({ length: EVENTS }, (_, i) => `evt_${i}`);
  for (const id of eventIds) {
    const event = { tenant, id, type: 'order.submitted', occurredAt: new Date().toISOString(), data: { eventId: id } };
    assert.equal(await herald.temporal.ingest(event, [subscriptionFor(endpoint)], 10_000), 'accepted');
    await herald.log.registerPending(event, [{ id: deliveryId(tenant, id, endpoint.id), endpointId: endpoint.id }]);
  }

  await herald.env.sleep(3 * HOUR);
  const midway = await endpointHealth(herald.db, endpoint);
  assert.equal(midway.state, 'open', JSON.stringify(midway));
  assert.ok(midway.consecutiveFailures >= 10 && midway.lastSuccessAt === null, JSON.stringify(midway));
  await herald.env.sleep(OUTAGE_MS - 3 * HOUR);

  // One result at a time: each unlocks time skipping while it waits, and the test server refuses overlapping unlocks.
  for (const id of eventIds) await herald.env.client.workflow.getHandle(eventWorkflowId(tenant, id)).result();

  const requests = receiver.received('/down');
  const whileDown = requests.filter((r) => r.at < outageEndsAt).length;
  const bySchedule = EVENTS * SCHEDULED_ATTEMPTS_IN_OUTAGE;
  console.log(`six-hour outage, ${EVENTS} events: ${whileDown} requests while down (the schedules alone: ${bySchedule}), ${requests.length} in all`);
  assert.ok(whileDown <= bySchedule / 3, `${whileDown} requests while down`);
  // Every event delivered, each once as a receiver deduplicating on webhook-id counts, none given up on.
  assert.equal(receiver.delivered('/down').size, EVENTS);
  for (const id of eventIds) {
    const delivery = await herald.log.get(tenant, deliveryId(tenant, id, endpoint.id));
    assert.equal(delivery?.status, 'delivered', id);
    // Held attempts are not attempts: every delivery stayed well inside the standard schedule's 8.
    assert.ok(delivery.attempts.length <= SCHEDULED_ATTEMPTS_IN_OUTAGE + 1, `${id}: ${delivery.attempts.length} attempts`);
  }
  const health = await endpointHealth(herald.db, endpoint);
  assert.equal(health.state, 'healthy');
  assert.equal(health.consecutiveFailures, 0);
  assert.ok(health.lastSuccessAt !== null && health.lastFailureAt !== null);
});
