import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import { freePort } from '../support/ports.ts';
import { Receiver } from '../support/receiver.ts';

/** Herald as `npm start` runs it, in a process of its own (embedded Temporal and PGlite under `dataDir`). */
async function heraldProcess() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-restarts-'));
  const port = await freePort();
  const env = {
    ...process.env, PORT: String(port), HERALD_HOST: '127.0.0.1', HERALD_DATA_DIR: dataDir, LOG_LEVEL: 'warn',
    HERALD_DEV_SERVER_PORT: String(await freePort()), HERALD_UI_PORT: String(await freePort()), HERALD_TEMPORAL_METRICS_PORT: '0',
  };
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const post = (route: string, body: unknown) =>
    fetch(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return {
    post,
    get: (route: string) => fetch(`${url}${route}`).then((r) => r.json()),
    async start() {
      child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: 'ignore' });
      await eventually(() => fetch(`${url}/readyz`).then((r) => r.status, () => 0), (status) => status === 200, 90_000, 200);
    },
    /** Sends `signal` and answers the exit code (null when killed by the signal). */
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!child || child.exitCode !== null || child.signalCode !== null) return undefined;
      const exited = once(child, 'exit');
      child.kill(signal);
      return (await exited)[0] as number | null;
    },
    async remove() {
      await this.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

describe('Herald stopped or killed in the middle of an attempt', () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await Receiver.start();
  });
  after(() => receiver?.close());

  /** Starts Herald, sends one event to an endpoint whose receiver hangs on the first request, and waits for that request. */
  async function attemptInFlight(herald: Awaited<ReturnType<typeof heraldProcess>>, path: string, eventId: string) {
    await herald.start();
    const created = await herald.post('/v1/endpoints', { url: receiver.script(path, 'hang', { status: 200 }), timeoutMs: 5_000 }).then((r) => r.json());
    assert.equal((await herald.post('/v1/events', { id: eventId, type: 'order.paid', data: { total: 9 } })).status, 202);
    await receiver.waitFor(path, 1);
    return `delivery:default:${eventId}:${created.id}`;
  }

  /** After the restart: delivered once more, under the same webhook-id, and the interruption is no receiver failure. */
  async function assertDeliveredAgain(herald: Awaited<ReturnType<typeof heraldProcess>>, path: string, deliveryId: string) {
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
});
