import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import { heraldProcess, type HeraldProcess } from '../support/heraldProcess.ts';
import { Receiver } from '../support/receiver.ts';

describe('Herald stopped or killed in the middle of an attempt', () => {
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
});
