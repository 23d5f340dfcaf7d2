import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inChannels } from '../../src/endpoints/routing.ts';
import { evaluateFilters, type FilterInput } from '../../src/transform/filter.ts';

const input: FilterInput = {
  event: { id: 'e1', type: 'order.placed', tenant: 'default', occurredAt: '2026-12-03T10:00:00.000Z', data: { total: 250, note: 'x' }, channels: ['eu'], tags: ['vip'] },
};
const judged = (...sources: string[]) => evaluateFilters(sources, input, () => {});

test('a filter matches on true, not on false or on nothing; anything else, or an error, is its failure', async () => {
  assert.deepEqual(await judged('event.data.total > 100', 'event.data.total > 1000', 'event.data.missing', '"vip" in event.tags and "eu" in event.channels'), [
    { matches: true }, { matches: false }, { matches: false, noResult: true }, { matches: true },
  ]);
  assert.deepEqual(await judged('event.data.note'), [{ failure: { reason: 'must give true or false; it gave a string', atCompile: false } }]);
  const [typeError] = await judged('event.data.note > 1');
  assert.ok(typeError && 'failure' in typeError && !typeError.failure.atCompile && typeError.failure.position !== undefined, JSON.stringify(typeError));
});

test('a filter that does not compile fails whatever the event, beside the others, which are still judged', async () => {
  const [broken, regex, fine] = await judged('event.data.total >', '$contains(event.type, /order/)', 'true');
  assert.ok(broken && 'failure' in broken && broken.failure.atCompile);
  assert.ok(regex && 'failure' in regex && /regular expressions are not allowed/.test(regex.failure.reason));
  assert.deepEqual(fine, { matches: true });
});

test('channels: an endpoint without any receives every event; one with some, only events in one of them', () => {
  assert.equal(inChannels({ channels: null }, {}), true);
  assert.equal(inChannels({ channels: null }, { channels: ['a'] }), true);
  assert.equal(inChannels({ channels: ['a', 'b'] }, { channels: ['c', 'b'] }), true);
  assert.equal(inChannels({ channels: ['a'] }, { channels: ['c'] }), false);
  assert.equal(inChannels({ channels: ['a'] }, {}), false);
});
