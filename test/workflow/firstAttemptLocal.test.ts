import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import proto from '@temporalio/proto';
import { assertGaps, deliverOneEvent, deliveryOf } from '../support/deliveries.ts';
import { startTimeSkippingHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const { EventType } = proto.temporal.api.enums.v1;
const HOUR = 3_600_000;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const ofType = (events: HistoryEvent[], type: proto.temporal.api.enums.v1.EventType) => events.filter((e) => e.eventType === type);
const summaryOf = (event: HistoryEvent) => JSON.parse(Buffer.from(event.userMetadata!.summary!.data!).toString('utf8'));

const { herald, receiver, stop } = await startTimeSkippingHeraldWithReceiver({ firstAttemptLocal: true });
after(stop);

describe('each delivery\'s first attempt as a local activity (HERALD_FIRST_ATTEMPT_LOCAL=true)', () => {
  test('a first-try delivery takes one workflow task and no activity; the Web UI lists its attempt as a marker with the summary', async () => {
    const started = await deliverOneEvent(herald, receiver, { retryPolicy: 'standard', replies: [{ status: 200 }] });
    await started.handle.result();
    assert.deepEqual((await deliveryOf(herald, started)).attempts.map((a) => a.statusCode), [200]);
    const events = (await started.handle.fetchHistory()).events!;
    assert.equal(ofType(events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED).length, 0);
    assert.equal(ofType(events, EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED).length, 1);
    const [marker, ...more] = ofType(events, EventType.EVENT_TYPE_MARKER_RECORDED);
    assert.equal(more.length, 0);
    assert.match(summaryOf(marker!), /^order\.submitted → 127\.0\.0\.1/);
  });

  test('a first attempt that fails is retried as an activity, after the wait its policy gives, Temporal retrying the rest', async () => {
    const started = await deliverOneEvent(herald, receiver, {
      retryPolicy: { initialInterval: '1h', backoffCoefficient: 2, maximumAttempts: 5 },
      replies: [{ status: 503 }, { status: 500 }, { status: 200 }],
    });
    await started.handle.result();
    assert.deepEqual((await deliveryOf(herald, started)).attempts.map((a) => a.statusCode), [503, 500, 200]);
    assertGaps(receiver.received(started.path), [1 * HOUR, 2 * HOUR]);
    const events = (await started.handle.fetchHistory()).events!;
    const [scheduled, ...more] = ofType(events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
    assert.equal(more.length, 0);
    assert.match(summaryOf(scheduled!), /^order\.submitted → /);
    assert.equal(events.find((e) => e.activityTaskStartedEventAttributes)?.activityTaskStartedEventAttributes?.attempt, 2);
  });
});
