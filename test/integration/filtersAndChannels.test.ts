import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import { historyText } from '../support/history.ts';

const ADMIN_KEY = 'admin-key-for-the-filters-test';
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

const { herald, receiver, createEndpoint, stop } = await startHeraldWithReceiver({ HERALD_API_KEY: ADMIN_KEY, HERALD_ALLOW_PRIVATE_TARGETS: 'true' });
after(stop);

const api = (method: string, route: string, body?: unknown) => herald.api(method, route, body, admin);
const post = async (event: Record<string, unknown>) => {
  const answer = await api('POST', '/v1/events', event);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
};
/** Every delivery the log lists for a query, all pages. */
const deliveries = async (query: string) => {
  const listed = await api('GET', `/v1/deliveries?limit=1000&${query}`);
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.equal(listed.body.nextCursor, null);
  return listed.body.data as { eventId: string; endpointId: string; tags: string[] }[];
};
const fieldsOf = (answer: { body: { errors?: { field: string }[] } }) => answer.body.errors?.map((e) => e.field);

describe('endpoint filters, channels and event tags on the embedded Temporal dev server', () => {
  test('100 events, half matching a filter: the filtered endpoint gets exactly that half, and the other half costs it no delivery and no activity', async () => {
    const even = await createEndpoint({ path: '/even', eventTypes: ['count.*'], filter: 'event.data.n % 2 = 0' }, admin);
    const all = await createEndpoint({ path: '/all', eventTypes: ['count.*'] }, admin);
    assert.equal(even.filter, 'event.data.n % 2 = 0');
    assert.equal(all.filter, null);
    for (let n = 0; n < 100; n++) await post({ id: `count-${n}`, type: 'count.up', data: { n } });

    // Deliveries are entered at ingest, before the 202: a filtered-out endpoint has none.
    const evenIds = Array.from({ length: 50 }, (_, i) => `count-${2 * i}`).sort();
    assert.deepEqual((await deliveries(`endpointId=${even.id}`)).map((d) => d.eventId).sort(), evenIds);
    assert.equal((await deliveries(`endpointId=${all.id}`)).length, 100);
    const received = await receiver.waitFor('/even', 50, 120_000);
    assert.deepEqual(received.map((r) => JSON.parse(r.body).data.n % 2), Array(50).fill(0));
    await receiver.waitFor('/all', 100, 120_000);

    assert.equal((await api('GET', `/v1/deliveries/delivery:default:count-1:${even.id}`)).status, 404);
    const odd = await api('GET', '/v1/events/count-1');
    assert.deepEqual(odd.body.deliveries.map((d: { endpointId: string }) => d.endpointId), [all.id]);
    // No activity, nor any mention: the endpoint was never part of the odd event's workflow.
    assert.ok(!(await historyText(herald.client, 'event:default:count-1')).includes(even.id));
    assert.ok((await historyText(herald.client, 'event:default:count-2')).includes(even.id));
    assert.equal(receiver.received('/even').length, 50);
  });

  test('an endpoint that names channels receives only events in one of them; one that names none receives them all', async () => {
    const billing = await createEndpoint({ path: '/billing', eventTypes: ['invoice.*'], channels: ['billing', 'finance'] }, admin);
    const any = await createEndpoint({ path: '/any-channel', eventTypes: ['invoice.*'] }, admin);
    assert.deepEqual(billing.channels, ['billing', 'finance']);
    await post({ id: 'inv-billing', type: 'invoice.paid', channels: ['billing'] });
    await post({ id: 'inv-both', type: 'invoice.paid', channels: ['shipping', 'finance'] });
    await post({ id: 'inv-shipping', type: 'invoice.paid', channels: ['shipping'] });
    await post({ id: 'inv-none', type: 'invoice.paid' });
    assert.deepEqual((await deliveries(`endpointId=${billing.id}`)).map((d) => d.eventId).sort(), ['inv-billing', 'inv-both']);
    assert.equal((await deliveries(`endpointId=${any.id}`)).length, 4);
    const got = await receiver.waitFor('/billing', 2);
    assert.deepEqual(got.map((r) => r.headers['webhook-id']).length, 2);
    const event = await api('GET', '/v1/events/inv-both');
    assert.deepEqual(event.body.event.channels, ['shipping', 'finance']);
  });

  test('a filter sees the event\'s channels and tags', async () => {
    const urgent = await createEndpoint({ path: '/urgent', eventTypes: ['ticket.*'], filter: '"urgent" in event.tags and "support" in event.channels' }, admin);
    await post({ id: 'ticket-urgent', type: 'ticket.opened', channels: ['support'], tags: ['urgent'] });
    await post({ id: 'ticket-calm', type: 'ticket.opened', channels: ['support'], tags: ['calm'] });
    assert.deepEqual((await deliveries(`endpointId=${urgent.id}`)).map((d) => d.eventId), ['ticket-urgent']);
  });

  test('tags are kept with the event and its deliveries: GET /v1/deliveries?tag= lists only those tagged', async () => {
    const tagged = await createEndpoint({ path: '/tagged', eventTypes: ['shipment.*'] }, admin);
    await post({ id: 'ship-vip', type: 'shipment.sent', tags: ['vip', 'region:eu'] });
    await post({ id: 'ship-eu', type: 'shipment.sent', tags: ['region:eu'] });
    await post({ id: 'ship-plain', type: 'shipment.sent' });
    const vip = await deliveries('tag=vip');
    assert.deepEqual(vip.map((d) => [d.eventId, d.endpointId, d.tags]), [['ship-vip', tagged.id, ['vip', 'region:eu']]]);
    assert.deepEqual((await deliveries('tag=region:eu')).map((d) => d.eventId).sort(), ['ship-eu', 'ship-vip']);
    assert.deepEqual((await deliveries(`endpointId=${tagged.id}&eventId=ship-plain`)).map((d) => d.tags), [[]]);
    assert.deepEqual((await api('GET', '/v1/events/ship-vip')).body.event.tags, ['vip', 'region:eu']);
    await receiver.waitFor('/tagged', 3);
    // An attempt's write keeps them.
    assert.deepEqual((await deliveries('tag=vip')).map((d) => d.eventId), ['ship-vip']);
  });

  test('a filter that fails on a real event fails that delivery for good, with the reason, and a replay sends it', async () => {
    const big = await createEndpoint({ path: '/big', eventTypes: ['order.*'], filter: 'event.data.total > 100' }, admin);
    await post({ id: 'order-typo', type: 'order.placed', data: { total: 'lots' } });
    const id = `delivery:default:order-typo:${big.id}`;
    const failed = await eventually(() => api('GET', `/v1/deliveries/${id}`), (r) => r.body?.status === 'failed', 60_000, 100);
    assert.equal(failed.body.attempts.length, 1);
    assert.match(failed.body.attempts[0].error, /^filter failed: filter: /);
    assert.equal(failed.body.attempts[0].request, null, 'nothing was sent');
    assert.equal(receiver.received('/big').length, 0);
    assert.equal((await api('POST', `/v1/deliveries/${id}/replay`)).status, 202);
    const [sent] = await receiver.waitFor('/big', 1);
    assert.deepEqual(JSON.parse(sent!.body).data, { total: 'lots' });
  });

  test('a filter that runs away on a real event is stopped at the deadline and fails only its own delivery', async () => {
    const runaway = await createEndpoint({ path: '/runaway', eventTypes: ['job.*'], filter: 'event.id = "evt_sample" or $count($distinct([1..40000])) > 0' }, admin);
    const calm = await createEndpoint({ path: '/calm', eventTypes: ['job.*'], filter: 'event.data.ok' }, admin);
    await post({ id: 'job-1', type: 'job.done', data: { ok: true } });
    const [delivered] = await receiver.waitFor('/calm', 1);
    assert.equal(JSON.parse(delivered!.body).data.ok, true);
    const failed = await eventually(() => api('GET', `/v1/deliveries/delivery:default:job-1:${runaway.id}`), (r) => r.body?.status === 'failed', 60_000, 100);
    assert.match(failed.body.attempts[0].error, /^filter failed: filter: took longer than the \d+ ms deadline and was stopped$/);
    assert.equal(receiver.received('/runaway').length, 0);
    assert.equal(calm.filter, 'event.data.ok');
  });

  test('a bad filter is a 400 naming filter: it does not compile, gives no boolean, or uses a regex; PATCH checks it too', async () => {
    const url = receiver.script('/never');
    for (const [filter, message] of [
      ['event.data.n >', /^Unexpected end of expression \(at position 14\)$/],
      ['event.type', /^must give true or false; it gave a string, on a sample event$/],
      ['$contains(event.type, /x/)', /regular expressions are not allowed/],
      ['', /./],
    ] as const) {
      const created = await api('POST', '/v1/endpoints', { url, filter });
      assert.equal(created.status, 400, JSON.stringify(created.body));
      assert.deepEqual(fieldsOf(created), ['filter']);
      assert.match(created.body.errors[0].message, message);
    }
    const endpoint = await createEndpoint({ path: '/patched', eventTypes: ['patch.*'] }, admin);
    const refused = await api('PATCH', `/v1/endpoints/${endpoint.id}`, { filter: '{"a": 1}' });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.deepEqual(fieldsOf(refused), ['filter']);
    assert.match(refused.body.errors[0].message, /it gave an object/);
    const patched = await api('PATCH', `/v1/endpoints/${endpoint.id}`, { filter: 'event.data.ok = true', channels: ['ops'] });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual([patched.body.filter, patched.body.channels], ['event.data.ok = true', ['ops']]);
    const removed = await api('PATCH', `/v1/endpoints/${endpoint.id}`, { filter: null, channels: null });
    assert.deepEqual([removed.body.filter, removed.body.channels], [null, null]);
  });

  test('a runaway filter is refused at create, naming the deadline', async () => {
    const created = await api('POST', '/v1/endpoints', { url: receiver.script('/never'), filter: '$count($distinct([1..40000])) > 0' });
    assert.equal(created.status, 400, JSON.stringify(created.body));
    assert.deepEqual(fieldsOf(created), ['filter']);
    assert.match(created.body.errors[0].message, /^took longer than the \d+ ms deadline and was stopped, on a sample event$/);
  });

  test('channels and tags are bounded: too many, too long, repeated or odd characters are 400s naming the field', async () => {
    const url = receiver.script('/never');
    const many = Array.from({ length: 11 }, (_, i) => `c${i}`);
    for (const channels of [many, ['x'.repeat(129)], ['a', 'a'], ['with space'], []]) {
      const created = await api('POST', '/v1/endpoints', { url, channels });
      assert.equal(created.status, 400, JSON.stringify(created.body));
      assert.ok(fieldsOf(created)!.every((field) => field.startsWith('channels')), JSON.stringify(created.body));
      const ingested = await api('POST', '/v1/events', { type: 'bad.labels', channels, tags: ['fine'] });
      assert.equal(ingested.status, 400, JSON.stringify(ingested.body));
      assert.ok(fieldsOf(ingested)!.every((field) => field.startsWith('channels')), JSON.stringify(ingested.body));
      const tagged = await api('POST', '/v1/events', { type: 'bad.labels', tags: channels });
      assert.equal(tagged.status, 400, JSON.stringify(tagged.body));
      assert.ok(fieldsOf(tagged)!.every((field) => field.startsWith('tags')), JSON.stringify(tagged.body));
    }
    const query = await api('GET', `/v1/deliveries?tag=${encodeURIComponent('no spaces')}`);
    assert.equal(query.status, 400);
    assert.deepEqual(fieldsOf(query), ['tag']);
  });
});
