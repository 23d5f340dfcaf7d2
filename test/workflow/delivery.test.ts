import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import proto from '@temporalio/proto';
import { Webhook } from 'standardwebhooks';
import { subscriptionFor } from '../../src/endpoints/subscription.ts';
import { assertGaps, deliverOneEvent, deliveryOf, gapsBetweenAttempts, type StartedDelivery, waitForStatus } from '../support/deliveries.ts';
import { startTimeSkippingHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import { freePort } from '../support/ports.ts';

const { EventType } = proto.temporal.api.enums.v1;
const SECOND = 1000, MINUTE = 60 * SECOND, HOUR = 60 * MINUTE;

const { herald, receiver, stop } = await startTimeSkippingHeraldWithReceiver();
after(stop);

describe('delivery on the time-skipping test server', () => {
  /** Replays it through the API's own path: the endpoint's current subscription, signalled or restarted. */
  const replay = async (started: StartedDelivery) => {
    const endpoint = await herald.endpoints.get(started.tenant, started.endpointId);
    await herald.log.markReplaying(started.deliveryId);
    return herald.temporal.replay(started.deliveryId, subscriptionFor(endpoint!));
  };
  const signal = (started: StartedDelivery, name: 'retryNow' | 'cancel') =>
    herald.temporal.signal(started.tenant, 'evt_1', name, { endpointId: started.endpointId });

  test('a receiver that fails twice is delivered on the third attempt after hours of backoff, with no workflow task between attempts', async () => {
    const started = await deliverOneEvent(herald, receiver, {
      retryPolicy: { initialInterval: '1h', backoffCoefficient: 2, maximumAttempts: 5 },
      replies: [{ status: 503 }, { status: 500 }, { status: 200 }],
    });
    await started.handle.result();
    const delivery = await deliveryOf(herald, started);
    assert.equal(delivery.status, 'delivered');
    assert.deepEqual(delivery.attempts.map((a) => a.statusCode), [503, 500, 200]);
    assertGaps(receiver.received(started.path), [1 * HOUR, 2 * HOUR]);
    assert.equal(receiver.received(started.path).length, 3);
    // The retries were Temporal's, on the server: one activity, no timers, the workflow woken only to start and to finish.
    const { events } = await started.handle.fetchHistory();
    const count = (type: proto.temporal.api.enums.v1.EventType) => events!.filter((e) => e.eventType === type).length;
    assert.equal(count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), 1);
    assert.equal(count(EventType.EVENT_TYPE_TIMER_STARTED), 0);
    assert.equal(count(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED), 2);
    assert.equal(events!.find((e) => e.activityTaskStartedEventAttributes)?.activityTaskStartedEventAttributes?.attempt, 3);
  });

  test('the standard schedule runs to exhaustion with its exact gaps, then parks as a findable dead letter', async () => {
    const started = await deliverOneEvent(herald, receiver, { retryPolicy: 'standard', replies: [{ status: 500 }] });
    await herald.env.sleep('28h');
    const delivery = await deliveryOf(herald, started);
    assert.equal(delivery.status, 'failed');
    assertGaps(receiver.received(started.path), [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]);
    assert.equal(receiver.received(started.path).length, 8);
    const attributes = (await started.handle.describe()).typedSearchAttributes.getAll();
    assert.equal(attributes.find((p) => p.key.name === 'HeraldStatus')?.value, 'failed');
    assert.deepEqual(attributes.find((p) => p.key.name === 'HeraldFailedEndpoints')?.value, [started.endpointId]);
    // The dead-letter retention ends: the workflow closes as failed, naming the endpoint.
    await assert.rejects(started.handle.result(), (err) => err instanceof WorkflowFailedError && String(err.cause?.message).includes(started.endpointId));
  });

  test('a 410 fails at once with one attempt', async () => {
    const started = await deliverOneEvent(herald, receiver, { retryPolicy: 'standard', replies: [{ status: 410, body: 'gone' }] });
    const delivery = await waitForStatus(herald, started, 'failed');
    assert.equal(delivery.attempts.length, 1);
    assert.equal(delivery.attempts[0]!.statusCode, 410);
    assert.equal(delivery.attempts[0]!.responseExcerpt, 'gone');
    assert.equal(receiver.received(started.path).length, 1);
  });

  test("the delivery activity is bounded: scheduled with a schedule-to-close timeout of its policy's longest run plus a week for holds", async () => {
    const started = await deliverOneEvent(herald, receiver, { retryPolicy: { schedule: ['1m', '1h'] }, replies: [{ status: 200 }] });
    await started.handle.result();
    const { events } = await started.handle.fetchHistory();
    const scheduled = events!.find((e) => e.activityTaskScheduledEventAttributes)!.activityTaskScheduledEventAttributes!;
    // Three attempts of at most 25 s (the 15 s timeout and 10 s to report), two waits of at most an hour each (a Retry-After
    // may raise any wait to the largest delay), and 7 days for holds by traffic control.
    assert.equal(Number(scheduled.scheduleToCloseTimeout?.seconds ?? 0), 3 * 25 + 2 * 3600 + 7 * 86_400);
    assert.equal(Number(scheduled.startToCloseTimeout?.seconds), 25);
  });

  test('a redirect is not followed and fails the delivery; its Location is kept in the attempt log', async () => {
    const started = await deliverOneEvent(herald, receiver, {
      retryPolicy: 'standard',
      replies: [{ status: 301, headers: { location: `${receiver.url}/elsewhere` } }],
    });
    const delivery = await waitForStatus(herald, started, 'failed');
    assert.equal(delivery.attempts[0]!.statusCode, 301);
    assert.deepEqual(delivery.attempts[0]!.responseHeaders, { location: `${receiver.url}/elsewhere` });
    assert.equal(receiver.received(started.path).length, 1);
    assert.equal(receiver.received('/elsewhere').length, 0);
  });

  test('429 with Retry-After: 120 waits 120 s of workflow time', async () => {
    const started = await deliverOneEvent(herald, receiver, {
      retryPolicy: { schedule: ['5s', '5m'] },
      replies: [{ status: 429, headers: { 'retry-after': '120' } }, { status: 204 }],
    });
    await started.handle.result();
    const delivery = await deliveryOf(herald, started);
    assert.equal(delivery.status, 'delivered');
    assertGaps(receiver.received(started.path), [120 * SECOND]);
    assert.deepEqual(delivery.attempts[0]!.responseHeaders, { 'retry-after': '120' });
  });

  test('Retry-After is capped at the policy\'s largest delay', async () => {
    const started = await deliverOneEvent(herald, receiver, {
      retryPolicy: { schedule: ['5s', '1m'] },
      replies: [{ status: 503, headers: { 'retry-after': '86400' } }, { status: 200 }],
    });
    await started.handle.result();
    assertGaps(receiver.received(started.path), [1 * MINUTE]);
  });

  test('a receiver that never answers times out after the make preset\'s 5 s and is retried', async () => {
    const started = await deliverOneEvent(herald, receiver, { retryPolicy: 'make', replies: ['hang', { status: 200 }] });
    await started.handle.result();
    const delivery = await deliveryOf(herald, started);
    assert.equal(delivery.status, 'delivered');
    assert.equal(delivery.attempts[0]!.error, 'timed out after 5000 ms');
    assert.equal(delivery.attempts[0]!.statusCode, null);
    assert.ok(delivery.attempts[0]!.durationMs >= 5000 && delivery.attempts[0]!.durationMs < 8000);
    assertGaps(receiver.received(started.path), [5 * SECOND + 1 * SECOND]);
  });

  test('a refused connection is retried, then parked', async () => {
    const started = await deliverOneEvent(herald, receiver, {
      retryPolicy: { schedule: ['1s'] },
      replies: [{ status: 200 }],
      endpoint: { url: `http://127.0.0.1:${await freePort()}/refused` },
    });
    await assert.rejects(started.handle.result(), WorkflowFailedError);
    const delivery = await deliveryOf(herald, started);
    assert.equal(delivery.status, 'failed');
    assert.equal(delivery.attempts.length, 2);
    assert.match(delivery.attempts[0]!.error ?? '', /ECONNREFUSED/);
  });

  test('a connection reset before any answer is retried', async () => {
    const started = await deliverOneEvent(herald, receiver, { retryPolicy: { schedule: ['1s'] }, replies: ['reset', { status: 200 }] });
    await started.handle.result();
    const delivery = await deliveryOf(herald, started);
    assert.equal(delivery.status, 'delivered');
    assert.equal(delivery.attempts[0]!.statusCode, null);
    assert.match(delivery.attempts[0]!.error ?? '', /ECONNRESET|socket|closed/i);
  });

  test('a replay of a dead letter delivers, with a fresh attempt budget and attempt numbers that go on', async () => {
    const started = await deliverOneEvent(herald, receiver, {
      retryPolicy: { schedule: ['1m'] },
      replies: [{ status: 500 }, { status: 500 }, { status: 200 }],
    });
    await herald.env.sleep('2m');
    await waitForStatus(herald, started, 'failed');
    assert.equal(await replay(started), 'replayed');
    await started.handle.result();
    const delivery = await deliveryOf(herald, started);
    assert.equal(delivery.status, 'delivered');
    assert.deepEqual(delivery.attempts.map((a) => [a.attempt, a.statusCode]), [[1, 500], [2, 500], [3, 200]]);
    assert.equal(receiver.received(started.path).length, 3);
  });

  test('a replay of a closed event starts its delivery again with the same webhook-id', async () => {
    const started = await deliverOneEvent(herald, receiver, { retryPolicy: 'none', replies: [{ status: 200 }] });
    await started.handle.result();
    assert.equal(await replay(started), 'replayed');
    await started.handle.result();
    const requests = receiver.received(started.path);
    assert.equal(requests.length, 2);
    assert.equal(requests[0]!.headers['webhook-id'], requests[1]!.headers['webhook-id']);
    assert.deepEqual((await deliveryOf(herald, started)).attempts.map((a) => a.attempt), [1, 2]);
  });

  test('retryNow cuts a 10 h wait short', async () => {
    const started = await deliverOneEvent(herald, receiver, { retryPolicy: { schedule: ['10h'] }, replies: [{ status: 500 }, { status: 200 }] });
    const waiting = await waitForStatus(herald, started, 'retrying');
    assert.ok(Date.parse(waiting.nextAttemptAt!) - Date.parse(waiting.attempts[0]!.startedAt) >= 10 * HOUR);
    await signal(started, 'retryNow');
    await started.handle.result();
    const delivery = await deliveryOf(herald, started);
    assert.equal(delivery.status, 'delivered');
    assert.ok(gapsBetweenAttempts(receiver.received(started.path))[0]! < 1 * MINUTE);
  });

  test('cancel stops a delivery that is waiting to retry', async () => {
    const started = await deliverOneEvent(herald, receiver, { retryPolicy: { schedule: ['1h', '1h'] }, replies: [{ status: 500 }] });
    await waitForStatus(herald, started, 'retrying');
    await signal(started, 'cancel');
    await started.handle.result();
    const delivery = await deliveryOf(herald, started);
    assert.equal(delivery.status, 'cancelled');
    assert.equal(delivery.attempts.length, 1);
    assert.equal(receiver.received(started.path).length, 1);
  });

  test('attempts 1 and 5 are signed afresh: same webhook-id, different timestamps, both verify', async (t) => {
    const started = await deliverOneEvent(herald, receiver, {
      retryPolicy: { schedule: ['1s', '1s', '1s', '1s'] },
      replies: [{ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }, { status: 200 }],
    });
    await started.handle.result();
    const delivery = await deliveryOf(herald, started);
    assert.equal(delivery.status, 'delivered');
    const requests = receiver.received(started.path);
    assert.equal(requests.length, 5);
    const [first, fifth] = [requests[0]!, requests[4]!];
    const verifier = new Webhook(started.secret);
    // Attempts are signed at their workflow time, which the test server skips ahead of the wall
    // clock; each is verified as its receiver would on arrival, at that attempt's workflow time.
    const now = t.mock.method(Date, 'now');
    for (const [request, attempt] of [[first, delivery.attempts[0]!], [fifth, delivery.attempts[4]!]] as const) {
      now.mock.mockImplementation(() => Date.parse(attempt.startedAt));
      assert.doesNotThrow(() => verifier.verify(request.body, request.headers as Record<string, string>));
    }
    now.mock.restore();
    assert.equal(first.headers['webhook-id'], fifth.headers['webhook-id']);
    assert.ok(Number(fifth.headers['webhook-timestamp']) > Number(first.headers['webhook-timestamp']));
    assert.notEqual(first.headers['webhook-signature'], fifth.headers['webhook-signature']);
  });
});
