import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { Webhook } from 'standardwebhooks';
import type { DeliveryStatus } from '../../workflows/types.ts';
import { assertGaps, deliverOneEvent, gapsBetweenAttempts, waitForStatus } from '../support/deliveries.ts';
import { freePort } from '../support/ports.ts';
import { Receiver } from '../support/receiver.ts';
import { startTimeSkippingHerald, type TimeSkippingHerald } from '../support/timeSkipping.ts';

const SECOND = 1000, MINUTE = 60 * SECOND, HOUR = 60 * MINUTE;

describe('delivery workflow on the time-skipping test server', () => {
  let herald: TimeSkippingHerald;
  let receiver: Receiver;
  before(async () => {
    [herald, receiver] = await Promise.all([startTimeSkippingHerald(), Receiver.start()]);
  });
  after(async () => {
    await herald?.stop();
    await receiver?.close();
  });

  test('a receiver that fails twice is delivered on the third attempt after hours of backoff', async () => {
    const { handle, path } = await deliverOneEvent(herald, receiver, {
      retryPolicy: { initialInterval: '1h', backoffCoefficient: 2, maximumAttempts: 5 },
      replies: [{ status: 503 }, { status: 500 }, { status: 200 }],
    });
    const status = await handle.result();
    assert.equal(status.status, 'delivered');
    assert.deepEqual(status.attempts.map((a) => a.statusCode), [503, 500, 200]);
    assertGaps(status, [1 * HOUR, 2 * HOUR]);
    assert.equal(receiver.received(path).length, 3);
  });

  test('the standard schedule runs to exhaustion with its exact gaps, then parks as failed', async () => {
    const { handle, path } = await deliverOneEvent(herald, receiver, { retryPolicy: 'standard', replies: [{ status: 500 }] });
    await assert.rejects(handle.result(), WorkflowFailedError);
    const status = await handle.query<DeliveryStatus>('status');
    assert.equal(status.status, 'failed');
    assertGaps(status, [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]);
    assert.equal(receiver.received(path).length, 8);
    const { typedSearchAttributes } = await handle.describe();
    assert.equal(typedSearchAttributes.getAll().find((p) => p.key.name === 'HeraldStatus')?.value, 'failed');
    assert.equal(typedSearchAttributes.getAll().find((p) => p.key.name === 'HeraldAttempts')?.value, 8);
  });

  test('a 410 fails at once with one attempt', async () => {
    const { handle, path } = await deliverOneEvent(herald, receiver, { retryPolicy: 'standard', replies: [{ status: 410, body: 'gone' }] });
    const status = await waitForStatus(handle, 'failed');
    assert.equal(status.attempts.length, 1);
    assert.equal(status.attempts[0]!.statusCode, 410);
    assert.equal(status.attempts[0]!.responseExcerpt, 'gone');
    assert.equal(receiver.received(path).length, 1);
  });

  test('a redirect is not followed and fails the delivery', async () => {
    const { handle, path } = await deliverOneEvent(herald, receiver, {
      retryPolicy: 'standard',
      replies: [{ status: 301, headers: { location: `${receiver.url}/elsewhere` } }],
    });
    const status = await waitForStatus(handle, 'failed');
    assert.equal(status.attempts[0]!.statusCode, 301);
    assert.equal(receiver.received(path).length, 1);
    assert.equal(receiver.received('/elsewhere').length, 0);
  });

  test('429 with Retry-After: 120 waits 120 s of workflow time', async () => {
    const { handle } = await deliverOneEvent(herald, receiver, {
      retryPolicy: { schedule: ['5s', '5m'] },
      replies: [{ status: 429, headers: { 'retry-after': '120' } }, { status: 204 }],
    });
    const status = await handle.result();
    assert.equal(status.status, 'delivered');
    assertGaps(status, [120 * SECOND]);
  });

  test('Retry-After is capped at the policy\'s largest delay', async () => {
    const { handle } = await deliverOneEvent(herald, receiver, {
      retryPolicy: { schedule: ['5s', '1m'] },
      replies: [{ status: 503, headers: { 'retry-after': '86400' } }, { status: 200 }],
    });
    assertGaps(await handle.result(), [1 * MINUTE]);
  });

  test('a receiver that never answers times out after the make preset\'s 5 s and is retried', async () => {
    const { handle } = await deliverOneEvent(herald, receiver, { retryPolicy: 'make', replies: ['hang', { status: 200 }] });
    const status = await handle.result();
    assert.equal(status.status, 'delivered');
    assert.equal(status.attempts[0]!.error, 'timed out after 5000 ms');
    assert.equal(status.attempts[0]!.statusCode, null);
    assert.ok(status.attempts[0]!.durationMs >= 5000 && status.attempts[0]!.durationMs < 8000);
    assertGaps(status, [5 * SECOND + 1 * SECOND]);
  });

  test('a refused connection is retried', async () => {
    const { handle } = await deliverOneEvent(herald, receiver, {
      retryPolicy: { schedule: ['1s'] },
      replies: [{ status: 200 }],
      endpoint: { url: `http://127.0.0.1:${await freePort()}/refused` },
    });
    await assert.rejects(handle.result(), WorkflowFailedError);
    const status = await handle.query<DeliveryStatus>('status');
    assert.equal(status.attempts.length, 2);
    assert.match(status.attempts[0]!.error ?? '', /ECONNREFUSED/);
  });

  test('a connection reset before any answer is retried', async () => {
    const { handle } = await deliverOneEvent(herald, receiver, { retryPolicy: { schedule: ['1s'] }, replies: ['reset', { status: 200 }] });
    const status = await handle.result();
    assert.equal(status.status, 'delivered');
    assert.equal(status.attempts[0]!.statusCode, null);
    assert.match(status.attempts[0]!.error ?? '', /ECONNRESET|socket|closed/i);
  });

  test('a replay after failure delivers, with a fresh attempt budget', async () => {
    const { handle, path } = await deliverOneEvent(herald, receiver, {
      retryPolicy: { schedule: ['1m'] },
      replies: [{ status: 500 }, { status: 500 }, { status: 200 }],
    });
    await herald.env.sleep('2m');
    await waitForStatus(handle, 'failed');
    await handle.signal('replay');
    const status = await handle.result();
    assert.equal(status.status, 'delivered');
    assert.deepEqual(status.attempts.map((a) => [a.attempt, a.statusCode]), [[1, 500], [2, 500], [3, 200]]);
    assert.equal(receiver.received(path).length, 3);
  });

  test('retryNow cuts a 10 h wait short', async () => {
    const { handle } = await deliverOneEvent(herald, receiver, { retryPolicy: { schedule: ['10h'] }, replies: [{ status: 500 }, { status: 200 }] });
    const waiting = await waitForStatus(handle, 'retrying');
    assert.ok(Date.parse(waiting.nextAttemptAt!) - Date.parse(waiting.attempts[0]!.startedAt) >= 10 * HOUR);
    await handle.signal('retryNow');
    const status = await handle.result();
    assert.equal(status.status, 'delivered');
    assert.ok(gapsBetweenAttempts(status)[0]! < 1 * MINUTE);
  });

  test('cancel stops a delivery that is waiting to retry', async () => {
    const { handle, path } = await deliverOneEvent(herald, receiver, { retryPolicy: { schedule: ['1h', '1h'] }, replies: [{ status: 500 }] });
    await waitForStatus(handle, 'retrying');
    await handle.signal('cancel');
    const status = await handle.result();
    assert.equal(status.status, 'cancelled');
    assert.equal(status.attempts.length, 1);
    assert.equal(receiver.received(path).length, 1);
  });

  test('attempts 1 and 5 are signed afresh: same webhook-id, different timestamps, both verify', async (t) => {
    const { handle, path, secret } = await deliverOneEvent(herald, receiver, {
      retryPolicy: { schedule: ['1s', '1s', '1s', '1s'] },
      replies: [{ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }, { status: 200 }],
    });
    const status = await handle.result();
    assert.equal(status.status, 'delivered');
    const requests = receiver.received(path);
    assert.equal(requests.length, 5);
    const [first, fifth] = [requests[0]!, requests[4]!];
    const verifier = new Webhook(secret);
    // Attempts are signed at their workflow time, which the test server skips ahead of the wall
    // clock; each is verified as its receiver would on arrival, at that attempt's workflow time.
    const now = t.mock.method(Date, 'now');
    for (const [request, attempt] of [[first, status.attempts[0]!], [fifth, status.attempts[4]!]] as const) {
      now.mock.mockImplementation(() => Date.parse(attempt.startedAt));
      assert.doesNotThrow(() => verifier.verify(request.body, request.headers as Record<string, string>));
    }
    now.mock.restore();
    assert.equal(first.headers['webhook-id'], fifth.headers['webhook-id']);
    assert.ok(Number(fifth.headers['webhook-timestamp']) > Number(first.headers['webhook-timestamp']));
    assert.notEqual(first.headers['webhook-signature'], fifth.headers['webhook-signature']);
  });
});
