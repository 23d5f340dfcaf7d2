import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { canBind, commandLine } from '../../src/listeningSockets.ts';
import { eventually } from '../support/eventually.ts';
import { heraldProcess, type HeraldProcess } from '../support/heraldProcess.ts';
import { freePort } from '../support/ports.ts';
import { Receiver } from '../support/receiver.ts';

// The tests share nothing but the receiver (each its own paths, Herald, data dir and ports), and spend most of their
// time waiting on processes: they run side by side (docs/testing.md says what that asks of the helpers).
describe('Herald stopped or killed in the middle of an attempt', { concurrency: 3 }, () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await Receiver.start();
  });
  after(() => receiver?.close());

  /** Starts Herald, sends one event to an endpoint whose receiver hangs on the first request, and waits for that request. */
  async function attemptInFlight(herald: HeraldProcess, path: string, eventId: string) {
    await herald.start();
    const created = await herald.post('/v1/endpoints', { url: receiver.script(path, 'hang', { status: 200 }), timeoutMs: 5_000 }).then((r) => r.json());
    assert.equal((await herald.post('/v1/events', { id: eventId, type: 'order.paid', data: { total: 9 } })).status, 202);
    await receiver.waitFor(path, 1);
    return `delivery:default:${eventId}:${created.id}`;
  }

  /** After the restart: delivered once more, under the same webhook-id, and the interruption is no receiver failure. */
  async function assertDeliveredAgain(herald: HeraldProcess, path: string, deliveryId: string) {
    const [first, second] = await receiver.waitFor(path, 2, 90_000);
    assert.equal(first!.headers['webhook-id'], second!.headers['webhook-id']);
    const status = await eventually(() => herald.get(`/v1/deliveries/${deliveryId}`), (s) => s.status === 'delivered');
    assert.deepEqual(status.attempts.map((a: { statusCode: number }) => a.statusCode), [200]);
  }

  test('SIGTERM stops Herald cleanly; after a restart the delivery completes under the same webhook-id', async () => {
    const herald = await heraldProcess();
    try {
      const deliveryId = await attemptInFlight(herald, '/sigterm', 'ord-77');
      assert.equal(await herald.stop('SIGTERM'), 0, 'Herald exits cleanly with an attempt in flight');
      await herald.start();
      await assertDeliveredAgain(herald, '/sigterm', deliveryId);
    } finally {
      await herald.remove();
    }
  });

  test('kill -9 loses nothing: the restarted Herald replaces the orphaned Temporal server and delivers', async () => {
    const herald = await heraldProcess();
    try {
      const deliveryId = await attemptInFlight(herald, '/sigkill', 'ord-78');
      assert.equal(await herald.stop('SIGKILL'), null);
      await herald.start();
      await assertDeliveredAgain(herald, '/sigkill', deliveryId);
    } finally {
      await herald.remove();
    }
  });

  test('kill -9 leaves nothing behind: its Temporal server stops by itself, and a Herald on the same ports with another data dir delivers', async () => {
    const ports = {
      PORT: String(await freePort()), HERALD_DEV_SERVER_PORT: String(await freePort()),
      HERALD_UI_PORT: String(await freePort()), HERALD_METRICS_PORT: String(await freePort()),
    };
    const killed = await heraldProcess('all', ports);
    const next = await heraldProcess('all', ports);
    try {
      await killed.start();
      assert.equal((await killed.post('/v1/endpoints', { url: receiver.script('/orphaned', 'hang'), timeoutMs: 5_000 })).status, 201);
      for (let i = 1; i <= 5; i++) {
        assert.equal((await killed.post('/v1/events', { id: `orphaned-${i}`, type: 'order.paid', data: {} })).status, 202);
      }
      await receiver.waitFor('/orphaned', 5);
      const devServerPid = Number(fs.readFileSync(path.join(killed.dataDir, 'temporal-dev-server.pid'), 'utf8'));
      assert.equal(await killed.stop('SIGKILL'), null, 'killed with five deliveries in flight');

      // Started at once, as a supervisor would, on the ports the dead one's server held.
      await next.start();
      await eventually(async () => commandLine(devServerPid), (command) => command === '', 15_000, 100);
      const created = await next.post('/v1/endpoints', { url: receiver.script('/after-kill', { status: 200 }) }).then((r) => r.json());
      assert.equal((await next.post('/v1/events', { id: 'after-kill', type: 'order.paid', data: {} })).status, 202);
      await eventually(() => next.get(`/v1/deliveries/delivery:default:after-kill:${created.id}`), (s) => s.status === 'delivered');
      assert.equal(await next.stop('SIGTERM'), 0);
      for (const [name, port] of Object.entries(ports)) assert.ok(await canBind(Number(port)), `${name} ${port} is free once both are gone`);
    } finally {
      await killed.remove();
      await next.remove();
    }
  });

  test('a Temporal port held by another process: Herald exits at once, naming the port and the process, without restarts', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    const herald = await heraldProcess('all', { HERALD_DEV_SERVER_PORT: String(port) });
    try {
      await assert.rejects(herald.start(), /exited with code 1 before it was ready/);
      const lines = herald.stderr().trim().split('\n');
      assert.match(lines.at(-1)!, new RegExp(`^herald: port ${port} on 127\\.0\\.0\\.1 \\(the embedded Temporal dev server's gRPC port \\(HERALD_DEV_SERVER_PORT\\)\\) is held by pid ${process.pid} \\(.*node`));
      assert.doesNotMatch(herald.stderr(), /restarting|exited unexpectedly/);
    } finally {
      holder.close();
      await herald.remove();
    }
  });

  test('a data dir another Temporal Server version made is not opened by this one: Herald says which, and what to do', async () => {
    // The dev server's SQLite file has no migrations: Server 1.32 on a 1.29 file fails in the middle of work.
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-cache-'));
    fs.symlinkSync(path.join(loadConfig().cacheDir, 'temporal'), path.join(cacheDir, 'temporal'));
    const herald = await heraldProcess('all', { HERALD_CACHE_DIR: cacheDir });
    try {
      fs.writeFileSync(path.join(herald.dataDir, 'temporal.db'), '');
      fs.writeFileSync(path.join(herald.dataDir, 'temporal-dev-server.version'), '1.0.0\n');
      await assert.rejects(herald.start(), /exited with code 1 before it was ready/);
      assert.match(herald.stderr().trim().split('\n').at(-1)!, /^herald: \S+temporal\.db was made by Temporal Server 1\.0\.0, which the provisioned CLI \(Server [\d.]+\) cannot open, and no CLI of that version is in \S+: run 'npm run provision -- cli' from this directory, or start on a new HERALD_DATA_DIR$/);
    } finally {
      await herald.remove();
      fs.rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});
