import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const { herald, receiver, createEndpoint, stop } = await startHeraldWithReceiver({ HERALD_ALLOW_PRIVATE_TARGETS: 'true' });
after(stop);
const api = (method: string, route: string, body?: unknown) => herald.api(method, route, body);
const DAY_MS = 86_400_000;

test('bad schedules are refused with a 400 naming the field, and nothing is accepted', async () => {
  const refusals: [Record<string, unknown>, string][] = [
    [{ deliverAt: new Date(Date.now() - 60_000).toISOString() }, 'deliverAt'],
    [{ deliverAt: new Date(Date.now() + 31 * DAY_MS).toISOString() }, 'deliverAt'],
    [{ deliverAt: 'tomorrow' }, 'deliverAt'],
    [{ delay: '31d' }, 'delay'],
    [{ delay: '10 minutes' }, 'delay'],
    [{ delay: '0s' }, 'delay'],
    [{ delay: '1h', deliverAt: new Date(Date.now() + DAY_MS).toISOString() }, 'delay'],
  ];
  for (const [schedule, field] of refusals) {
    const answer = await api('POST', '/v1/events', { id: 'bad-schedule', type: 'order.paid', ...schedule });
    assert.equal(answer.status, 400, JSON.stringify(schedule));
    assert.equal(answer.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.deepEqual(answer.body.errors.map((e: { field: string }) => e.field), [field], JSON.stringify(answer.body));
  }
  assert.equal((await api('GET', '/v1/events/bad-schedule')).status, 404);
});

test('a scheduled event shows as scheduled, its id is a duplicate meanwhile, and cancelled before due it stays a duplicate', async () => {
  const endpoint = await createEndpoint({ path: '/scheduled-cancel', eventTypes: ['order.*'] });
  const posted = await api('POST', '/v1/events', { id: 'sched-cancel', type: 'order.paid', delay: '1h' });
  assert.equal(posted.status, 202);
  assert.equal(posted.body.status, 'scheduled');
  assert.ok(Math.abs(Date.parse(posted.body.deliverAt) - (Date.now() + 3_600_000)) < 60_000, posted.body.deliverAt);

  const shown = await api('GET', '/v1/events/sched-cancel');
  assert.equal(shown.status, 200);
  assert.equal(shown.body.status, 'scheduled');
  assert.ok(Math.abs(Date.parse(shown.body.deliverAt) - Date.parse(posted.body.deliverAt)) < 5_000, shown.body.deliverAt);
  assert.deepEqual(shown.body.deliveries.map((d: { endpointId: string; status: string }) => [d.endpointId, d.status]), [[endpoint.id, 'pending']]);

  const again = await api('POST', '/v1/events', { id: 'sched-cancel', type: 'order.paid', delay: '1h' });
  assert.deepEqual([again.status, again.body.status], [200, 'duplicate']);

  const cancelled = await api('POST', '/v1/events/sched-cancel/cancel');
  assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
  assert.deepEqual(cancelled.body, { eventId: 'sched-cancel', status: 'cancelled' });
  assert.equal((await api('POST', '/v1/events/sched-cancel/cancel')).status, 200); // idempotent
  const after = await api('GET', '/v1/events/sched-cancel');
  assert.equal(after.body.status, 'cancelled');
  assert.deepEqual(after.body.deliveries.map((d: { status: string }) => d.status), ['cancelled']);
  const afterCancel = await api('POST', '/v1/events', { id: 'sched-cancel', type: 'order.paid' });
  assert.deepEqual([afterCancel.status, afterCancel.body.status], [200, 'duplicate']);
  assert.equal(receiver.received('/scheduled-cancel').length, 0);
});

test('a scheduled event arrives when due; cancelling it then is a 409', async () => {
  await createEndpoint({ path: '/scheduled-due', eventTypes: ['invoice.*'] });
  const deliverAt = new Date(Date.now() + 5_000).toISOString();
  const posted = await api('POST', '/v1/events', { id: 'sched-due', type: 'invoice.sent', deliverAt });
  assert.deepEqual([posted.status, posted.body.status], [202, 'scheduled']);
  assert.equal(Date.parse(posted.body.deliverAt), Date.parse(deliverAt));
  const [arrival] = await receiver.waitFor('/scheduled-due', 1, 60_000);
  assert.ok(arrival!.at >= Date.parse(deliverAt) - 1_000, `arrived ${Date.parse(deliverAt) - arrival!.at} ms before it was due`);
  const late = await api('POST', '/v1/events/sched-due/cancel');
  assert.equal(late.status, 409);
  assert.match(late.body.detail, /can no longer be cancelled|settled/);
});

test('erasing a scheduled event removes it before it is due; its id stays a duplicate', async () => {
  await createEndpoint({ path: '/scheduled-erase', eventTypes: ['user.*'] });
  assert.equal((await api('POST', '/v1/events', { id: 'sched-erase', type: 'user.created', delay: '2h' })).status, 202);
  const erased = await api('DELETE', '/v1/events/sched-erase');
  assert.equal(erased.status, 200, JSON.stringify(erased.body));
  assert.equal(erased.body.removed.workflowExecutions >= 1, true);
  assert.equal(erased.body.removed.deliveriesCancelled, 1);
  assert.equal((await api('GET', '/v1/events/sched-erase')).status, 404);
  const again = await api('POST', '/v1/events', { id: 'sched-erase', type: 'user.created', delay: '2h' });
  assert.deepEqual([again.status, again.body.status], [200, 'duplicate']);
});
