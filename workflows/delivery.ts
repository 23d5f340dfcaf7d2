import {
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { HeraldActivities } from '../activities/index.ts';
import { delayBeforeNextAttempt } from './retrySchedule.ts';
import { HeraldAttempts, HeraldStatus } from './searchAttributes.ts';
import { attemptsMade, type AttemptOutcome, type DeliveryInput, type DeliveryStatus, type DeliveryStatusName } from './types.ts';

export const replaySignal = defineSignal('replay');
export const retryNowSignal = defineSignal('retryNow');
export const cancelSignal = defineSignal('cancel');
export const statusQuery = defineQuery<DeliveryStatus>('status');

/** Keeps the attempt log and the history bounded across many replays. */
const KEPT_ATTEMPTS = 50;
const HISTORY_EVENTS_BEFORE_CONTINUE = 1000;

/** One event to one endpoint: attempt, wait per policy, park when exhausted, wake on replay. */
export async function deliveryWorkflow(input: DeliveryInput): Promise<DeliveryStatus> {
  const { event, subscription } = input;
  const state: DeliveryStatus = {
    id: workflowInfo().workflowId, eventId: event.id, endpointId: subscription.endpointId, eventType: event.type,
    status: 'pending', attempts: input.carried?.attempts ?? [], nextAttemptAt: null,
  };
  let replayRequested = false, retryNow = false, cancelled = false;
  setHandler(statusQuery, () => state);
  setHandler(replaySignal, () => void (replayRequested = true));
  setHandler(retryNowSignal, () => void (retryNow = true));
  setHandler(cancelSignal, () => void (cancelled = true));

  const setStatus = (status: DeliveryStatusName, nextAttemptAt: string | null = null) => {
    Object.assign(state, { status, nextAttemptAt });
    upsertSearchAttributes([{ key: HeraldStatus, value: status }, { key: HeraldAttempts, value: attemptsMade(state) }]);
  };
  const proxy = input.localActivities === 'all' ? proxyLocalActivities : proxyActivities;
  const attempt = async (n: number): Promise<AttemptOutcome> => {
    const { attemptDelivery } = proxy<HeraldActivities>({
      summary: `attempt ${n} → ${subscription.host}`,
      startToCloseTimeout: subscription.timeoutMs + 10_000,
      // Only infrastructure faults throw (storage down, worker lost); HTTP outcomes are results.
      retry: { initialInterval: '1s', maximumInterval: '30s' },
    });
    const startedAt = new Date().toISOString();
    const outcome = await attemptDelivery({ event, endpointId: subscription.endpointId, attempt: n });
    const { verdict: _verdict, retryAfterMs: _retryAfterMs, ...logged } = outcome;
    state.attempts = [...state.attempts, { attempt: n, startedAt, ...logged }].slice(-KEPT_ATTEMPTS);
    return outcome;
  };

  /** One attempt budget: returns how it ended. */
  const deliver = async (): Promise<'delivered' | 'failed' | 'cancelled'> => {
    for (let made = 0; ;) {
      replayRequested = retryNow = false;
      const result = await attempt(attemptsMade(state) + 1);
      made += 1;
      if (result.verdict === 'delivered') return 'delivered';
      if (cancelled) return 'cancelled';
      const wait = result.verdict === 'retry'
        ? delayBeforeNextAttempt(subscription.schedule, made, result.retryAfterMs, Math.random)
        : undefined;
      if (wait === undefined) return 'failed';
      setStatus('retrying', new Date(Date.now() + wait).toISOString());
      await condition(() => retryNow || replayRequested || cancelled, wait);
      if (cancelled) return 'cancelled';
      if (replayRequested) made = 0;
    }
  };

  for (;;) {
    const outcome = await deliver();
    setStatus(outcome);
    if (outcome !== 'failed') return state;
    // Dead letter: parked, visible as HeraldStatus = "failed", until replayed, cancelled or expired.
    if (!(await condition(() => replayRequested || cancelled, input.deadLetterRetentionMs))) {
      throw ApplicationFailure.nonRetryable(`delivery failed after ${attemptsMade(state)} attempts; dead-letter retention ended`);
    }
    if (cancelled) return (setStatus('cancelled'), state);
    setStatus('pending'); // replayed: no longer a dead letter
    if (workflowInfo().historyLength > HISTORY_EVENTS_BEFORE_CONTINUE || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof deliveryWorkflow>({ ...input, carried: { attempts: state.attempts } });
    }
  }
}
