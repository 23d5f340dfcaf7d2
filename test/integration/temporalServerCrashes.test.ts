import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { CapturedLog } from '../support/capturedLog.ts';
import { eventually } from '../support/eventually.ts';
import { startTestHerald, waitForDelivered, type TestHerald } from '../support/herald.ts';
import { heraldProcess } from '../support/heraldProcess.ts';
import { eventsDeliveredAt, Receiver } from '../support/receiver.ts';

/** The embedded Temporal dev server's pid, from the pidfile Herald keeps in its data dir. */
function devServerPid(dataDir: string): number {
  return Number(fs.readFileSync(path.join(dataDir, 'temporal-dev-server.pid'), 'utf8'));
}

/** kill -9 of the embedded Temporal dev server; answers its pid. */
function killDevServer(dataDir: string): number {
  const pid = devServerPid(dataDir);
  process.kill(pid, 'SIGKILL');
  return pid;
}

/**
 * Waits until Herald has logged `count` restarts of its dev server, then for /readyz to answer 200.
 * (Whether /readyz is seen answering 503 in between is a race: a restart can finish inside the
 * 2 s a readiness probe waits for Temporal. The give-up test below checks the 503s.)
 */
async function restarted(herald: TestHerald, log: CapturedLog, count: number) {
  await eventually(async () => log.entries('embedded Temporal dev server restarted on the same database').length, (n) => n >= count, 90_000, 50);
  await eventually(() => herald.api('GET', '/readyz'), (r) => r.status === 200);
}

/**
 * Posts an event as a well-behaved producer does: a 503 must carry Retry-After, and the event is
 * posted again until Herald accepts it. Answers how many 503s it met.
 */
async function produce(herald: TestHerald, event: { id: string; type: string; data: unknown }): Promise<number> {
  let refusals = 0;
  const answer = await eventually(async () => {
    const response = await herald.api('POST', '/v1/events', event);
    if (response.status === 503) {
      assert.ok(response.headers.get('retry-after'), '503 without Retry-After');
      refusals += 1;
    }
    return response;
  }, (r) => r.status !== 503, 90_000, 250);
  // A 200 duplicate after a 503 means the refused post had in fact been accepted: also accepted, once.
  const accepted = answer.status === 202 || (refusals > 0 && answer.status === 200 && answer.body.status === 'duplicate');
  assert.ok(accepted, `event ${event.id}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return refusals;
}

/** Retries soon and often enough to outlast a Temporal restart without running out. */
const fastRetries = { schedule: ['1s', '2s', '4s', '8s', '16s'] };

describe('the embedded Temporal dev server killed while Herald runs', () => {
  const log = new CapturedLog();
  let herald: TestHerald;
  let receiver: Receiver;
  before(async () => {
    [herald, receiver] = await Promise.all([startTestHerald({ LOG_LEVEL: 'info' }, { logDestination: log }), Receiver.start()]);
  });
  after(async () => {
    await herald?.stop();
    await receiver?.close();
  });

  test('killed with kill -9 in the middle of traffic: restarted, and every accepted event is delivered under one webhook-id', async () => {
    // /held keeps its first 6 requests open past Herald's 3 s timeout; /failing answers its first 8 with 503 or 500.
    const endpoints = await Promise.all([
      herald.api('POST', '/v1/endpoints', {
        url: receiver.script('/held', ...Array<'hang'>(6).fill('hang'), { status: 200 }), eventTypes: ['order.*'], timeoutMs: 3_000, retryPolicy: fastRetries,
      }),
      herald.api('POST', '/v1/endpoints', {
        url: receiver.script('/failing', ...[503, 500, 503, 500, 503, 500, 503, 500].map((status) => ({ status })), { status: 200 }),
        eventTypes: ['order.*'], retryPolicy: fastRetries,
      }),
    ]).then((created) => created.map((r) => r.body.id as string));
    const eventIds = Array.from({ length: 20 }, (_, i) => `crash-${i + 1}`);
    const send = (eventId: string) => produce(herald, { id: eventId, type: 'order.submitted', data: { eventId } });

    for (const eventId of eventIds.slice(0, 10)) assert.equal(await send(eventId), 0);
    await receiver.waitFor('/held', 3); // attempts held open right now, others waiting on their retry timers
    const killedAt = Date.now();
    const killedPid = killDevServer(herald.dataDir);
    let refusals = 0;
    for (const eventId of eventIds.slice(10)) refusals += await send(eventId);
    await restarted(herald, log, 1);

    const deliveryIds = eventIds.flatMap((eventId) => endpoints.map((endpointId) => `delivery:default:${eventId}:${endpointId}`));
    await waitForDelivered(herald, deliveryIds);
    assert.equal(eventsDeliveredAt(receiver, '/held'), 20);
    assert.equal(eventsDeliveredAt(receiver, '/failing'), 20);

    const [exited] = log.entries('embedded Temporal dev server exited unexpectedly');
    assert.equal(exited?.level, 50, 'logged as an error');
    assert.equal(exited?.pid, killedPid);
    assert.equal(exited?.ended, 'was killed by SIGKILL');
    const [back, ...more] = log.entries('embedded Temporal dev server restarted on the same database');
    assert.equal(more.length, 0, 'restarted once');
    assert.equal(log.entries('worker stopped with an error').length, 0, 'the same worker carried on: it reconnects by itself');
    console.log(`kill -9 mid-traffic: Temporal back after ${Number(back!.time) - killedAt} ms; ${deliveryIds.length} deliveries of ${eventIds.length} events delivered; ${refusals} ingest 503s`);
  });

  test('killed with kill -9 while Herald is idle: restarted, and events accepted afterwards are delivered', async () => {
    const { body: endpoint } = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/after-idle-crash', { status: 200 }), eventTypes: ['invoice.*'] });
    const killedPid = killDevServer(herald.dataDir);
    await restarted(herald, log, 2);
    assert.notEqual(devServerPid(herald.dataDir), killedPid, 'a new server runs');

    const eventIds = Array.from({ length: 5 }, (_, i) => `after-idle-crash-${i + 1}`);
    for (const eventId of eventIds) assert.equal(await produce(herald, { id: eventId, type: 'invoice.created', data: { eventId } }), 0);
    await waitForDelivered(herald, eventIds.map((eventId) => `delivery:default:${eventId}:${endpoint.id}`));
    assert.equal(eventsDeliveredAt(receiver, '/after-idle-crash'), 5);
  });
});

// Each test its own Herald process, data dir and receiver paths, waiting mostly on processes: side by side. (Not beside
// the in-process Herald above: run together, its ingest saw connections reset while its Temporal server was down.)
describe('Herald and its Temporal server as processes', { concurrency: true }, () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await Receiver.start();
  });
  after(() => receiver?.close());

  test('both killed at once (a machine reboot): a Herald started on the same data dir delivers every pending delivery', async () => {
    // Every attempt to /down fails until the reboot: the circuit breaker, which would hold the later events' first attempts, is not what this tests.
    const noCircuit = { HERALD_CIRCUIT_FAILURES: '1000' };
    const herald = await heraldProcess('all', noCircuit);
    let rebooted: TestHerald | undefined;
    try {
      await herald.start();
      // Until the reboot, /down answers 503 (deliveries wait on retry timers) and /stalled holds requests open (attempts in flight).
      let receiverUp = false;
      const endpointIds = await Promise.all([
        herald.post('/v1/endpoints', {
          url: receiver.respond('/down', () => (receiverUp ? { status: 200 } : { status: 503 })), eventTypes: ['order.*'],
          retryPolicy: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 50 },
        }),
        herald.post('/v1/endpoints', {
          url: receiver.respond('/stalled', () => (receiverUp ? { status: 200 } : 'hang')), eventTypes: ['order.*'], timeoutMs: 2_000,
          retryPolicy: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 50 },
        }),
      ]).then((responses) => Promise.all(responses.map((r) => r.json().then((body) => body.id as string))));
      const eventIds = Array.from({ length: 12 }, (_, i) => `reboot-${i + 1}`);
      for (const eventId of eventIds) {
        assert.equal((await herald.post('/v1/events', { id: eventId, type: 'order.submitted', data: { eventId } })).status, 202);
      }
      const attemptedEvents = (path: string) => new Set(receiver.received(path).map((r) => JSON.parse(r.body).data.eventId)).size;
      await eventually(async () => [attemptedEvents('/down'), attemptedEvents('/stalled')], (seen) => seen.every((n) => n === eventIds.length), 90_000);

      process.kill(devServerPid(herald.dataDir), 'SIGKILL');
      assert.equal(await herald.stop('SIGKILL'), null);
      receiverUp = true;
      rebooted = await startTestHerald({ HERALD_DATA_DIR: herald.dataDir, ...noCircuit });

      const deliveryIds = eventIds.flatMap((eventId) => endpointIds.map((endpointId) => `delivery:default:${eventId}:${endpointId}`));
      await waitForDelivered(rebooted, deliveryIds);
      assert.equal(eventsDeliveredAt(receiver, '/down'), eventIds.length);
      assert.equal(eventsDeliveredAt(receiver, '/stalled'), eventIds.length);
      console.log(`reboot: ${deliveryIds.length} pending deliveries of ${eventIds.length} events delivered from the SQLite file`);
    } finally {
      await rebooted?.stop();
      await herald.remove();
    }
  });

  test('a Temporal server that cannot be brought back: 503s meanwhile, then Herald gives up and exits 1 saying why', async () => {
    // Herald runs the real CLI through a cache dir of its own, so the test can break the CLI later.
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-cache-'));
    const cli = path.join(cacheDir, 'temporal');
    fs.symlinkSync(path.join(loadConfig().cacheDir, 'temporal'), cli);
    const herald = await heraldProcess('all', { HERALD_CACHE_DIR: cacheDir });
    try {
      await herald.start();
      // From now on the server cannot start, as with a full disk or a damaged database file.
      fs.rmSync(cli);
      fs.writeFileSync(cli, '#!/bin/sh\necho "simulated: unable to open database file" >&2\nexit 1\n', { mode: 0o755 });
      process.kill(devServerPid(herald.dataDir), 'SIGKILL');

      const ready = await eventually(() => fetch(`${herald.url}/readyz`), (r) => r.status === 503, 30_000, 50);
      assert.equal((await ready.json()).temporal, 'unreachable');
      const ingest = await herald.post('/v1/events', { id: 'while-down', type: 'order.submitted', data: {} });
      assert.equal(ingest.status, 503);
      assert.equal(ingest.headers.get('retry-after'), '5');

      assert.equal(await herald.exited(), 1);
      assert.match(herald.stderr(), /herald: the embedded Temporal dev server at 127\.0\.0\.1:\d+ failed 5 times in a row and was not restarted/);
      assert.match(herald.stderr(), /simulated: unable to open database file/);
    } finally {
      await herald.remove();
      fs.rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});
