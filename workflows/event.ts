import {
  ActivityFailure, ApplicationFailure, CancellationScope, condition, continueAsNew, getExternalWorkflowHandle, isCancellation,
  proxyActivities, proxyLocalActivities, setHandler, sleep, startChild, TimeoutFailure, upsertSearchAttributes, uuid4, workflowInfo,
} from '@temporalio/workflow';
import {
  cancelSignal, deliveryFailureTypes, type DeliverySignal, type DeliveryStatusName, type EventRef, type EventWorkflowInput,
  eventRef, eventSearchAttributes, type EventWorkflowState, MAX_DIRECT_DELIVERIES, HeraldFailedEndpoints, HeraldStatus,
  partWorkflowId, replaySignal, retryNowSignal, statusQuery, type Subscription, turnSignal, type HeraldActivities,
} from './contract.ts';
import { deliveryTimeLimitMs } from './retrySchedule.ts';

const HISTORY_EVENTS_BEFORE_CONTINUE = 1_000;

type Request = 'replay' | 'retryNow' | 'cancel';
const signalDefs = { replay: replaySignal, retryNow: retryNowSignal, cancel: cancelSignal, turn: turnSignal };
interface Delivery {
  subscription: Subscription;
  status: DeliveryStatusName;
  /** The attempt budget the schedule counts in; a replay starts a new one. */
  budget: string;
  request?: Request;
  /** FIFO `turn` signals received: one that arrives while an attempt is pending still counts after it. */
  turns: number;
  /** Set while parked as a dead letter: when its retention ends. */
  parkedUntil?: number;
  active: boolean;
}

const { recordCancelled } = proxyActivities<HeraldActivities>({ startToCloseTimeout: '30s' });
const attemptOptions = (event: EventRef, d: Delivery, timeLimitMs: number) => ({
  summary: `${event.type} → ${d.subscription.host}`,
  startToCloseTimeout: d.subscription.timeoutMs + 10_000,
  // Bounds every retry, holds and infrastructure faults included: a fault that never clears ends the delivery.
  scheduleToCloseTimeout: timeLimitMs,
});
const attempt = (event: EventRef, eventWorkflowId: string, d: Delivery, locally: boolean) => {
  const input = { event, eventWorkflowId, subscription: d.subscription, budget: d.budget };
  const timeLimitMs = deliveryTimeLimitMs(d.subscription.schedule, d.subscription.timeoutMs + 10_000);
  const remote = (limitMs: number) => proxyActivities<HeraldActivities>({
    ...attemptOptions(event, d, limitMs),
    // A delivery's schedule is the delay each failed attempt asks for (nextRetryDelay), and the attempt
    // itself decides when the budget is spent; these intervals apply only to infrastructure faults.
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
  }).deliver(input);
  if (!locally) return remote(timeLimitMs);
  // The first attempt runs in this workflow task; whatever asks to be retried goes on as an activity, after its wait.
  const began = Date.now();
  return proxyLocalActivities<HeraldActivities>({ ...attemptOptions(event, d, timeLimitMs), retry: { maximumAttempts: 1 } }).deliver(input).catch(async (err) => {
    const waitMs = retryWaitOf(err);
    if (waitMs === undefined) throw err;
    await sleep(waitMs);
    return remote(timeLimitMs - (Date.now() - began));
  });
};
/** The wait before running again an attempt that asks to be retried (its failure's details, or 1 s for a fault); undefined for any other outcome. */
const retryWaitOf = (err: unknown) => {
  const failure = attemptFailureOf(err);
  if (failure instanceof TimeoutFailure) return 1000;
  if (!(failure instanceof ApplicationFailure) || failure.nonRetryable) return undefined;
  const asked = Number(failure.details?.[0]);
  return Number.isFinite(asked) ? asked : 1000;
};
/** What an attempt failed with: an activity's failure names it as its cause, a local activity's failure is it. */
const attemptFailureOf = (err: unknown) => (err instanceof ActivityFailure ? err.cause : err);
/** How long a FIFO delivery queued behind another waits at most for its turn; undefined for any other failure. */
const queuedFor = (err: unknown) => {
  const failure = attemptFailureOf(err);
  return failure instanceof ApplicationFailure && failure.type === deliveryFailureTypes.queued ? Number(failure.details?.[0]) : undefined;
};

/**
 * Like `condition(fn, ms)`, but a timer that loses the race is left to fire unheeded, never cancelled: a
 * signal and the timer's firing can fall in the same workflow task, and the time-skipping test server
 * then refuses the task's CancelTimer ("invalid history builder state for action") and stalls the workflow.
 */
async function conditionKeepingTimer(fn: () => boolean, ms: number): Promise<boolean> {
  if (fn()) return true;
  let due = false;
  void CancellationScope.nonCancellable(() => sleep(ms)).then(() => void (due = true));
  await condition(() => fn() || due);
  return fn();
}

/** One event's workflow as it runs: its deliveries, the parts of a large fan-out, and the work under way. */
interface EventRun {
  input: EventWorkflowInput;
  event: EventRef;
  /** The event workflow whose input holds the data (the part's parent, for a part). */
  root: string;
  deliveries: Map<string, Delivery>;
  parts: { workflowId: string; endpointIds: Set<string>; open: boolean }[];
  running: Set<Promise<void>>;
  /** The dead letters the search attributes last showed. */
  shownFailed: string;
}

/** One ingested event: one delivery activity per subscribed endpoint, dead letters parked until replayed. */
export async function eventWorkflow(input: EventWorkflowInput): Promise<EventWorkflowState> {
  const self = workflowInfo().workflowId;
  const run: EventRun = {
    input, event: eventRef(input.event), root: input.rootWorkflowId ?? self, deliveries: new Map(), parts: [], running: new Set(), shownFailed: '',
  };
  for (const kind of ['replay', 'retryNow', 'cancel', 'turn'] as const) setHandler(signalDefs[kind], (signal) => routeSignal(run, kind, signal));
  setHandler(statusQuery, () => stateOf(run));

  if (input.subscriptions.length <= MAX_DIRECT_DELIVERIES) {
    for (const subscription of input.subscriptions) add(run, subscription, input.parkedUntil?.[subscription.endpointId]);
  } else {
    await fanOut(run, self);
  }

  await condition(() => run.running.size === 0 || (historyFull() && onlyDeadLetters(run)));
  // Many replays make a long history: start afresh with only the dead letters, their retention kept.
  if (run.running.size > 0) await continueWithDeadLetters(run);
  const lost = [...run.deliveries.values()].filter((d) => d.status === 'failed').map((d) => d.subscription.endpointId);
  // Shown as Failed in the Web UI; a replay still starts the delivery again.
  if (lost.length) throw ApplicationFailure.nonRetryable(`dead-letter retention ended with ${lost.length} failed deliveries: ${lost.join(', ')}`);
  return stateOf(run);
}

const stateOf = (run: EventRun): EventWorkflowState => ({
  deliveries: [...run.deliveries.values()].map((d) => ({ endpointId: d.subscription.endpointId, status: d.status })),
  parts: run.parts.map((p) => p.workflowId),
});

const historyFull = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > HISTORY_EVENTS_BEFORE_CONTINUE;
// A dead letter whose replay or cancel has just arrived is not idle: continuing as new now would drop the request.
const onlyDeadLetters = (run: EventRun) =>
  !run.parts.some((p) => p.open) && [...run.deliveries.values()].every((d) => !d.active || (d.parkedUntil !== undefined && d.request === undefined));

async function continueWithDeadLetters(run: EventRun): Promise<never> {
  const parked = [...run.deliveries.values()].filter((d) => d.parkedUntil !== undefined);
  return continueAsNew<typeof eventWorkflow>({
    ...run.input,
    subscriptions: parked.map((d) => d.subscription),
    parkedUntil: Object.fromEntries(parked.map((d) => [d.subscription.endpointId, d.parkedUntil!])),
  });
}

/** Keeps `work` counted as under way until it ends. */
function keep(run: EventRun, work: Promise<void>): void {
  run.running.add(work);
  void work.then(() => run.running.delete(work));
}

/** Starts delivering to one endpoint (or parks it, when it comes parked from before a continue-as-new). */
function add(run: EventRun, subscription: Subscription, parkedUntil?: number): void {
  const d: Delivery = { subscription, status: parkedUntil ? 'failed' : 'pending', budget: uuid4(), parkedUntil, active: false, turns: 0 };
  run.deliveries.set(subscription.endpointId, d);
  keep(run, deliver(run, d));
}

/** The fan-out: past MAX_DIRECT_DELIVERIES endpoints, part workflows of about that many each deliver theirs. */
async function fanOut(run: EventRun, self: string): Promise<void> {
  const { input, event } = run;
  const size = Math.max(MAX_DIRECT_DELIVERIES, Math.ceil(input.subscriptions.length / MAX_DIRECT_DELIVERIES));
  for (let start = 0; start < input.subscriptions.length; start += size) {
    const subscriptions = input.subscriptions.slice(start, start + size);
    const part = { workflowId: partWorkflowId(self, run.parts.length + 1), endpointIds: new Set(subscriptions.map((s) => s.endpointId)), open: true };
    run.parts.push(part);
    const child = await startChild(eventWorkflow, {
      workflowId: part.workflowId,
      args: [{ event, subscriptions, deadLetterRetentionMs: input.deadLetterRetentionMs, rootWorkflowId: run.root }],
      staticSummary: `${event.type} → ${subscriptions.length} endpoints`,
      typedSearchAttributes: eventSearchAttributes(event, subscriptions),
    });
    keep(run, child.result().then(() => void (part.open = false)));
  }
}

/** The per-delivery loop: attempts until settled; a dead letter stays parked until replayed, cancelled, or its retention ends. */
async function deliver(run: EventRun, d: Delivery): Promise<void> {
  d.active = true;
  for (;;) {
    if (d.parkedUntil === undefined) {
      d.status = await attemptUntilSettled(run, d);
      if (d.status !== 'failed') break;
      d.parkedUntil = Date.now() + run.input.deadLetterRetentionMs;
    }
    showDeadLetters(run);
    const left = d.parkedUntil - Date.now();
    const woken = left > 0 && (await conditionKeepingTimer(() => d.request === 'replay' || d.request === 'cancel', left));
    d.parkedUntil = undefined;
    if (!woken) break; // the dead-letter retention ended: it stays failed, and listed so until the workflow closes
    showDeadLetters(run);
    if (d.request === 'cancel') {
      d.status = 'cancelled';
      break;
    }
    d.budget = uuid4();
  }
  if (d.status === 'cancelled') await recordCancelled({ tenant: run.input.event.tenant, eventId: run.input.event.id, endpointId: d.subscription.endpointId });
  d.active = false;
}

/** Attempts (Temporal retries them) until delivered, failed for good, or a signal interrupts. */
async function attemptUntilSettled(run: EventRun, d: Delivery): Promise<'delivered' | 'failed' | 'cancelled'> {
  for (let first = run.input.firstAttemptLocal === true; ; first = false) {
    d.request = undefined;
    d.status = 'pending';
    const turns = d.turns;
    const outcome = await CancellationScope.cancellable(async () => {
      try {
        return await Promise.race([
          // A failure that reaches the workflow ends the delivery (the attempt decides, Temporal retries the rest),
          // unless the delivery is queued behind another of a FIFO endpoint.
          attempt(run.event, run.root, d, first).then(() => 'delivered' as const, (err) => (isCancellation(err) ? 'cancelled' as const : queuedFor(err) ?? 'failed' as const)),
          condition(() => d.request !== undefined).then(() => 'interrupted' as const),
        ]);
      } finally {
        CancellationScope.current().cancel(); // the loser: a wait, or an attempt (reported cancelled at once)
      }
    });
    if (typeof outcome === 'number') await conditionKeepingTimer(() => d.turns !== turns || d.request !== undefined, outcome);
    else if (outcome !== 'interrupted') return outcome;
    if (d.request === 'cancel') return 'cancelled';
    if (d.request === 'replay') d.budget = uuid4(); // retryNow keeps the budget
  }
}

/** The search attributes list the endpoints whose deliveries are parked as dead letters. */
function showDeadLetters(run: EventRun): void {
  const failed = [...run.deliveries.values()].filter((d) => d.parkedUntil !== undefined).map((d) => d.subscription.endpointId);
  if (failed.join() === run.shownFailed) return;
  run.shownFailed = failed.join();
  upsertSearchAttributes([{ key: HeraldStatus, value: failed.length ? 'failed' : 'delivering' }, { key: HeraldFailedEndpoints, value: failed }]);
}

/** Signal routing: to the parts that hold the endpoint, and to this workflow's own deliveries. */
function routeSignal(run: EventRun, kind: keyof typeof signalDefs, signal: DeliverySignal): void {
  const { endpointId, subscription } = signal;
  for (const part of run.parts) {
    if (!part.open || (endpointId && !part.endpointIds.has(endpointId))) continue;
    // A part that has just closed no longer holds the delivery: a named replay then runs here.
    keep(run, getExternalWorkflowHandle(part.workflowId).signal(signalDefs[kind], signal).catch(() => {
      if (kind === 'replay' && subscription && !run.deliveries.has(subscription.endpointId)) add(run, subscription);
    }));
  }
  const own = endpointId ? [run.deliveries.get(endpointId)].filter((d) => d !== undefined) : [...run.deliveries.values()];
  for (const d of own) ask(run, d, kind, endpointId !== undefined);
  const heldByPart = run.parts.some((p) => p.open && endpointId && p.endpointIds.has(endpointId));
  if (kind === 'replay' && subscription && subscription.endpointId === endpointId && !own.length && !heldByPart) add(run, subscription);
}

/** What a signal asks of one delivery this workflow runs itself. */
function ask(run: EventRun, d: Delivery, kind: keyof typeof signalDefs, named: boolean): void {
  const parked = d.parkedUntil !== undefined;
  if (kind === 'turn') {
    d.turns++;
  } else if (kind === 'replay' && !d.active && named) {
    d.budget = uuid4();
    keep(run, deliver(run, d));
  } else if (d.active && (kind === 'replay' ? parked || named : kind === 'retryNow' ? !parked : true)) {
    d.request = kind;
  }
}
