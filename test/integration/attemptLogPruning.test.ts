import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import { waitForDeliveryStatus } from '../support/herald.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const { herald, createEndpoint, stop } = await startHeraldWithReceiver({ HERALD_ATTEMPT_LOG_RETENTION: '8s' });
after(stop);

test('the attempt log is pruned by a Temporal Schedule: rows older than the retention go, newer ones stay', async () => {
  const endpoint = await createEndpoint({ path: '/pruned', eventTypes: ['order.*'] });
  const old = `delivery:default:old-1:${endpoint.id}`;
  assert.equal((await herald.api('POST', '/v1/events', { id: 'old-1', type: 'order.paid' })).status, 202);
  await waitForDeliveryStatus(herald, old, 'delivered');
  await new Promise((resolve) => setTimeout(resolve, 8_500)); // past the 8 s retention
  const recent = `delivery:default:new-1:${endpoint.id}`;
  assert.equal((await herald.api('POST', '/v1/events', { id: 'new-1', type: 'order.paid' })).status, 202);
  await waitForDeliveryStatus(herald, recent, 'delivered');

  // Herald created the schedule at start; run it now rather than wait a day.
  const schedule = herald.client.schedule.getHandle('herald-prune-delivery-log');
  assert.equal((await schedule.describe()).spec.intervals?.[0]?.every, 86_400_000);
  await schedule.trigger();
  await eventually(() => herald.api('GET', `/v1/deliveries/${old}`), (r) => r.status === 404, 30_000, 200);
  assert.equal((await herald.api('GET', `/v1/deliveries/${recent}`)).body.attempts.length, 1);
});
