import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { react } from '../../activities/deliver.ts';
import { createTrafficControl, defaultTrafficSettings, endpointHealth, resetTraffic, type TrafficControl } from '../../src/endpoints/trafficControl.ts';
import { createLogger } from '../../src/logger.ts';
import { generateSecret } from '../../src/signing/index.ts';
import type { Db } from '../../src/storage/db.ts';
import { DeliveryLog } from '../../src/storage/deliveryLog.ts';
import { EndpointStore, type NewEndpoint } from '../../src/endpoints/store.ts';
import type { HeraldEvent, Subscription } from '../../src/temporal/heraldTemporal.ts';
import { openTestMemoryDb } from '../support/suiteSetup.ts';

const SECOND = 1000, MINUTE = 60 * SECOND, HOUR = 60 * MINUTE, DAY = 24 * HOUR;

/**
 * Traffic control's decisions on PGlite, with the clock passed in as the delivery activity passes
 * its own, and carried out as the activity carries them out (`react`): the events raised are
 * captured from the `ingest` it is given.
 */
describe('traffic control', () => {
  let db: Db;
  let endpoints: EndpointStore;
  let log: DeliveryLog;
  let traffic: TrafficControl;
  let effects: Parameters<typeof react>[0];
  const raised: { event: HeraldEvent; subscriptions: Subscription[] }[] = [];
  before(async () => {
    db = await openTestMemoryDb();
    endpoints = new EndpointStore(db);
    log = new DeliveryLog(db);
    const temporal = {
      ingest: async (event: HeraldEvent, subscriptions: Subscription[]) => (raised.push({ event, subscriptions }), 'accepted' as const),
      signal: async () => 'signalled' as const,
    };
    effects = { endpoints, log, temporal, logger: createLogger('silent') };
    traffic = createTrafficControl({
      db, endpoints, logger: createLogger('silent'),
      settings: { ...defaultTrafficSettings, circuitFailures: 3, circuitCooldownMs: MINUTE, maxCircuitCooldownMs: 8 * MINUTE, disableAfterMs: 5 * DAY },
    });
  });
  after(() => db?.close());

  let tenants = 0;
  const newEndpoint = async (settings: Partial<NewEndpoint> = {}) => endpoints.create({
    tenant: `t${++tenants}`, url: 'https://receiver.example/hook', description: '', eventTypes: ['order.*'], retryPolicy: 'standard',
    timeoutMs: 5_000, format: 'standard', signature: { scheme: 'standard-webhooks' }, headers: {}, enabled: true, secret: generateSecret(), ...settings,
  });

  /** One attempt as the delivery activity writes it: its log row, then its outcome to traffic control. */
  let attempts = 0;
  const attempt = async (endpoint: { id: string; tenant: string }, at: number, outcome: { statusCode: number | null; waitMs?: number; durationMs?: number; eventType?: string; tenant?: string }) => {
    const delivered = outcome.statusCode !== null && outcome.statusCode < 300;
    const status = delivered ? 'delivered' as const : outcome.waitMs === undefined ? 'failed' as const : 'retrying' as const;
    const eventId = `e${++attempts}`;
    // The event's tenant: the endpoint's own, or any on an all-tenant endpoint.
    const tenant = outcome.tenant ?? endpoint.tenant;
    const deliveryId = `delivery:${tenant}:${eventId}:${endpoint.id}`;
    const record = log.attemptRecord({
      deliveryId, tenant, eventId, endpointId: endpoint.id, eventType: outcome.eventType ?? 'order.paid', attempt: 1, budget: 'b',
      startedAt: new Date(at).toISOString(), durationMs: outcome.durationMs ?? 5, statusCode: outcome.statusCode, error: delivered ? null : 'HTTP 503',
      responseExcerpt: null, responseHeaders: null, request: null, status, nextAttemptAt: null,
    });
    await react(effects, endpoint.id, await traffic.recordOutcome(endpoint.id, {
      deliveryId, eventId, attempt: 1, status, statusCode: outcome.statusCode, error: delivered ? null : 'HTTP 503', at,
      durationMs: outcome.durationMs ?? 5, waitMs: outcome.waitMs, eventType: outcome.eventType ?? 'order.paid', countsAgainstEndpoint: true,
    }, record));
  };
  /** Traffic control's decision alone (the attempt's number is checked on its own). */
  const admit = async (endpointId: string, deliveryId: string, now: number) => {
    const { attempt: _number, ...decision } = await traffic.admit(endpointId, { id: deliveryId, budget: 'b' }, now);
    return decision;
  };

  test('an endpoint without controls is always admitted', async () => {
    const endpoint = await newEndpoint();
    assert.deepEqual(await admit(endpoint.id, 'delivery:t:e:other', Date.now()), { send: true, probe: false });
  });

  test("an admitted attempt is numbered after the delivery's attempts, counted in its budget", async () => {
    const endpoint = await newEndpoint();
    await attempt(endpoint, Date.now(), { statusCode: 503, waitMs: SECOND });
    const deliveryId = `delivery:${endpoint.tenant}:e${attempts}:${endpoint.id}`;
    assert.deepEqual((await traffic.admit(endpoint.id, { id: deliveryId, budget: 'b' }, Date.now())).attempt, { number: 2, madeInBudget: 1 });
    assert.deepEqual((await traffic.admit(endpoint.id, { id: deliveryId, budget: 'replay' }, Date.now())).attempt, { number: 2, madeInBudget: 0 }, 'a replay starts a new budget');
  });

  test('a rate limit admits the burst, then one request per interval; a held request learns how long to wait', async () => {
    const endpoint = await newEndpoint({ rateLimit: { perSecond: 2, burst: 3 } });
    const t0 = Date.now();
    const first = await Promise.all(Array.from({ length: 5 }, () => admit(endpoint.id, 'delivery:t:e:other', t0)));
    assert.equal(first.filter((a) => a.send).length, 3, 'the burst');
    const held = first.find((a) => !a.send);
    assert.ok(held && !held.send && held.reason === 'rate-limited' && held.waitMs >= 500 && held.waitMs <= 500 + 4 * 500, JSON.stringify(held));
    assert.equal((await admit(endpoint.id, 'delivery:t:e:other', t0 + 400)).send, false, 'no token yet after 400 ms');
    assert.equal((await admit(endpoint.id, 'delivery:t:e:other', t0 + 500)).send, true, 'one token after 500 ms');
    assert.equal((await admit(endpoint.id, 'delivery:t:e:other', t0 + 500)).send, false);
    // Ten quiet seconds refill the bucket to its burst, no more.
    const later = await Promise.all(Array.from({ length: 5 }, () => admit(endpoint.id, 'delivery:t:e:other', t0 + 10_500)));
    assert.equal(later.filter((a) => a.send).length, 3);
  });

  test('a 429 holds every other delivery to the endpoint for as long as its own next wait, counted from the answer', async () => {
    const endpoint = await newEndpoint();
    const t0 = Date.now();
    // Answered 2 s after the attempt began (a slow receiver, a busy worker): Retry-After counts from the answer.
    await attempt(endpoint, t0, { statusCode: 429, waitMs: 30 * SECOND, durationMs: 2 * SECOND });
    const held = await admit(endpoint.id, 'delivery:t:e:other', t0 + 10 * SECOND);
    assert.deepEqual(held, { send: false, reason: 'slowed-down', waitMs: 22 * SECOND });
    const told = `delivery:${endpoint.tenant}:e${attempts}:${endpoint.id}`;
    assert.deepEqual(await admit(endpoint.id, told, t0 + 10 * SECOND), { send: true, probe: false }, 'the delivery it answered keeps its own schedule');
    assert.equal((await admit(endpoint.id, 'delivery:t:e:other', t0 + 32 * SECOND)).send, true);
  });

  test('consecutive failures open the circuit; one probe after the cool-down; a failed probe doubles it; a success closes it', async () => {
    const endpoint = await newEndpoint();
    const t0 = Date.now();
    for (let i = 0; i < 2; i++) await attempt(endpoint, t0 + i, { statusCode: 503, waitMs: 5 * SECOND });
    assert.equal((await endpointHealth(db, endpoint)).state, 'degraded');
    await attempt(endpoint, t0 + 2, { statusCode: 503, waitMs: 5 * SECOND });
    const health = await endpointHealth(db, endpoint);
    assert.equal(health.state, 'open');
    assert.equal(health.consecutiveFailures, 3);

    const held = await admit(endpoint.id, 'delivery:t:e:other', t0 + 30 * SECOND);
    assert.ok(!held.send && held.reason === 'circuit-open' && held.waitMs >= 30 * SECOND - 2 && held.waitMs <= 36 * SECOND, JSON.stringify(held));
    // After the cool-down, one of several deliveries probes.
    const afterCooldown = await Promise.all(Array.from({ length: 4 }, () => admit(endpoint.id, 'delivery:t:e:other', t0 + MINUTE + 2)));
    assert.deepEqual(afterCooldown.filter((a) => a.send), [{ send: true, probe: true }]);
    assert.ok(afterCooldown.every((a) => a.send || a.reason === 'probe-out'));

    await attempt(endpoint, t0 + MINUTE + 3, { statusCode: 503, waitMs: 5 * MINUTE });
    assert.equal((await endpointHealth(db, endpoint)).circuitOpenUntil, new Date(t0 + MINUTE + 3 + 2 * MINUTE).toISOString(), 'twice the cool-down');
    assert.equal((await admit(endpoint.id, 'delivery:t:e:other', t0 + 3 * MINUTE + 3)).send, true, 'the next probe');
    await attempt(endpoint, t0 + 3 * MINUTE + 4, { statusCode: 200 });
    assert.equal((await endpointHealth(db, endpoint)).state, 'healthy');
    assert.deepEqual(await admit(endpoint.id, 'delivery:t:e:other', t0 + 3 * MINUTE + 5), { send: true, probe: false });
    assert.deepEqual(raised.filter((r) => r.event.data && (r.event.data as { endpointId: string }).endpointId === endpoint.id), [], 'nobody subscribed: nothing raised');
  });

  test('failing for longer than disableAfter disables the endpoint once, and tells the endpoints subscribed to herald.*', async () => {
    const endpoint = await newEndpoint({ disableAfter: '2d' });
    const operator = await endpoints.create({ ...(await endpoints.cachedById(endpoint.id))!, eventTypes: ['herald.endpoint.*'], secret: generateSecret() });
    const everything = await endpoints.create({ ...(await endpoints.cachedById(endpoint.id))!, eventTypes: ['*'], secret: generateSecret() });
    const t0 = Date.now();
    await attempt(endpoint, t0, { statusCode: 503, waitMs: HOUR });
    await attempt(endpoint, t0 + DAY, { statusCode: 503, waitMs: HOUR });
    assert.equal((await endpoints.get(endpoint.tenant, endpoint.id))!.enabled, true);
    await attempt(endpoint, t0 + 2 * DAY, { statusCode: 503, waitMs: HOUR });
    assert.equal((await endpoints.get(endpoint.tenant, endpoint.id))!.enabled, false);
    assert.equal((await endpointHealth(db, (await endpoints.get(endpoint.tenant, endpoint.id))!)).state, 'disabled');
    // A disabled endpoint's deliveries go on to fail for good (as dead letters), never held.
    assert.deepEqual(await admit(endpoint.id, 'delivery:t:e:other', t0 + 2 * DAY + 1), { send: true, probe: false });
    await attempt(endpoint, t0 + 2 * DAY + 2, { statusCode: 503, waitMs: HOUR });

    const disabled = raised.filter((r) => r.event.type === 'herald.endpoint.disabled');
    assert.equal(disabled.length, 1);
    assert.deepEqual(disabled[0]!.subscriptions.map((s) => s.endpointId), [operator.id], 'only the endpoint that names herald.* types');
    assert.equal((disabled[0]!.event.data as { endpointId: string }).endpointId, endpoint.id);
    assert.ok(!disabled[0]!.subscriptions.some((s) => s.endpointId === everything.id));

    // Re-enabled by hand: the failure streak starts afresh.
    await endpoints.update(endpoint.tenant, endpoint.id, { enabled: true });
    await resetTraffic(db, endpoint.id);
    await attempt(endpoint, t0 + 3 * DAY, { statusCode: 503, waitMs: HOUR });
    assert.equal((await endpoints.get(endpoint.tenant, endpoint.id))!.enabled, true);
  });

  test("on an all-tenant endpoint one tenant's failures open that tenant's circuit only, and it is disabled only once it fails for every tenant", async () => {
    const endpoint = await newEndpoint({ allTenants: true, disableAfter: '2d' });
    const of = (tenant: string) => `delivery:${tenant}:e:${endpoint.id}`;
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) await attempt(endpoint, t0 + i, { statusCode: 503, waitMs: 5 * SECOND, tenant: 'evil' });
    const held = await admit(endpoint.id, of('evil'), t0 + 10 * SECOND);
    assert.ok(!held.send && held.reason === 'circuit-open', JSON.stringify(held));
    assert.deepEqual(await admit(endpoint.id, of('good'), t0 + 10 * SECOND), { send: true, probe: false }, "another tenant's deliveries go on");
    await attempt(endpoint, t0 + 11 * SECOND, { statusCode: 200, tenant: 'good' });
    assert.equal((await admit(endpoint.id, of('evil'), t0 + 12 * SECOND)).send, false, "another tenant's success does not close it");
    const health = await endpointHealth(db, (await endpoints.cachedById(endpoint.id))!);
    assert.deepEqual([health.state, health.openFor], ['open', ['evil']], JSON.stringify(health));

    // Failing for evil for days, while good's last delivery succeeded: still enabled.
    await attempt(endpoint, t0 + 3 * DAY, { statusCode: 503, waitMs: HOUR, tenant: 'evil' });
    assert.equal((await endpoints.cachedById(endpoint.id))!.enabled, true);
    // Then failing for good as well, for longer than disableAfter: failing for everyone, so disabled.
    await attempt(endpoint, t0 + 3 * DAY + 1, { statusCode: 503, waitMs: HOUR, tenant: 'good' });
    assert.equal((await endpoints.cachedById(endpoint.id))!.enabled, true);
    await attempt(endpoint, t0 + 5 * DAY + 2, { statusCode: 503, waitMs: HOUR, tenant: 'good' });
    assert.equal((await endpoints.get(endpoint.tenant, endpoint.id))!.enabled, false);
  });

  test('operational events are never raised about a delivery of an operational event', async () => {
    const endpoint = await newEndpoint({ eventTypes: ['herald.*'], disableAfter: '1h' });
    await endpoints.create({ ...(await endpoints.cachedById(endpoint.id))!, secret: generateSecret() });
    const before = raised.length;
    const t0 = Date.now();
    await attempt(endpoint, t0, { statusCode: 503, eventType: 'herald.endpoint.disabled' });
    await attempt(endpoint, t0 + 2 * HOUR, { statusCode: 503, waitMs: HOUR, eventType: 'herald.endpoint.disabled' });
    assert.equal((await endpoints.get(endpoint.tenant, endpoint.id))!.enabled, false, 'disabled all the same');
    assert.equal(raised.length, before);
  });
});
