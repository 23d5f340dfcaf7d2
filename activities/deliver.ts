import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Dispatcher } from 'undici';
import { classifyStatus, messageIdFor, parseRetryAfter, type Verdict } from '../src/delivery/classify.ts';
import { send, SendError } from '../src/delivery/send.ts';
import { buildRequest, TransformError } from '../src/delivery/request.ts';
import type { Logger } from '../src/logger.ts';
import type { DeliveryMetrics } from '../src/metrics/index.ts';
import type { TrafficControl } from '../src/delivery/trafficControl.ts';
import type { DeliveryLog } from '../src/storage/deliveryLog.ts';
import type { EndpointStore } from '../src/storage/endpoints.ts';
import type { HeraldTemporal } from '../src/temporal/heraldTemporal.ts';
import { delayBeforeNextAttempt } from '../workflows/retrySchedule.ts';
import { deliveryFailureTypes, deliveryId, type DeliveryActivityInput, type HeraldEvent } from '../workflows/contract.ts';

export interface DeliverDeps {
  endpoints: EndpointStore;
  log: DeliveryLog;
  /** Reads a large event's data from its workflow, for deliveries that carry none. */
  temporal: Pick<HeraldTemporal, 'eventOf'>;
  logger: Logger;
  metrics: DeliveryMetrics;
  traffic: TrafficControl;
  /** The HTTP agent deliveries go through (deliveryDispatcher); fetch's default when unset (tests). */
  dispatcher?: Dispatcher;
}

/** What one attempt learned from the receiver (or from failing to reach it). */
interface Answer {
  verdict: Verdict;
  statusCode: number | null;
  error: string | null;
  responseExcerpt: string | null;
  responseHeaders: Record<string, string> | null;
  retryAfterMs?: number;
  networkFailure?: 'timeout' | 'connection';
}

/** Response headers the attempt log keeps: the ones that explain an outcome. */
const KEPT_RESPONSE_HEADERS = ['retry-after', 'location'];

/**
 * One attempt at one delivery; Temporal runs it again for each retry. Build the body, sign it for
 * this moment, POST it, classify the answer, log it, then: complete (delivered), fail with the
 * policy's next delay (Temporal retries after it, without waking the workflow), or fail for good.
 */
export async function deliver(deps: DeliverDeps, input: DeliveryActivityInput): Promise<{ attempt: number; statusCode: number }> {
  const { subscription, budget } = input;
  const { tenant, id: eventId, type: eventType } = input.event;
  const id = deliveryId(tenant, eventId, subscription.endpointId);
  const info = Context.current().info;
  // Equal to now in production; ahead of the wall clock only under a time-skipping test server.
  const startedAt = Math.max(Date.now(), info.currentAttemptScheduledTimestampMs);
  // Held (rate limit, 429 slow-down, open circuit) or queued (FIFO line): no attempt row, so no attempt and no budget spent.
  const admission = await deps.traffic.admit(subscription.endpointId, id, startedAt);
  if (!admission.send) {
    const waitMs = Math.ceil(admission.waitMs);
    const message = `held: ${admission.reason}; next try in ${Math.ceil(waitMs / 1000)} s`;
    // Queued: the workflow waits for its turn, which the delivery ahead signals; held: Temporal retries after the wait.
    throw admission.reason === 'not-first-in-line'
      ? ApplicationFailure.create({ type: deliveryFailureTypes.queued, message, nonRetryable: true, details: [waitMs] })
      : ApplicationFailure.create({ type: deliveryFailureTypes.held, message, nextRetryDelay: waitMs });
  }
  const { attempt, madeInBudget } = await deps.log.nextAttempt(id, budget);
  const began = Date.now();
  const answer = await postAttempt(deps, input, attempt, startedAt);
  const durationMs = Date.now() - began;

  const waitMs = answer.verdict === 'retry' ? delayBeforeNextAttempt(subscription.schedule, madeInBudget + 1, answer.retryAfterMs, Math.random) : undefined;
  const status = answer.verdict === 'delivered' ? 'delivered' : waitMs === undefined ? 'failed' : 'retrying';
  await deps.log.recordAttempt({
    deliveryId: id, tenant, eventId, endpointId: subscription.endpointId, eventType, attempt, budget,
    startedAt: new Date(startedAt).toISOString(), durationMs, statusCode: answer.statusCode, error: answer.error,
    responseExcerpt: answer.responseExcerpt, responseHeaders: answer.responseHeaders, status,
    nextAttemptAt: waitMs === undefined ? null : new Date(startedAt + durationMs + waitMs).toISOString(),
  });
  await deps.traffic.recordOutcome(subscription.endpointId, {
    deliveryId: id, eventId, eventType, attempt, status, statusCode: answer.statusCode, error: answer.error, at: startedAt, waitMs,
  });
  // A retryable answer with no attempt left ends the delivery: counted as failed, not as a retry.
  const verdict = status === 'retrying' ? 'retry' : status === 'delivered' ? 'delivered' : 'failed';
  deps.metrics.recordAttempt({ eventType, tenant, verdict, statusCode: answer.statusCode, durationMs, networkFailure: answer.networkFailure });
  if (status !== 'retrying') deps.metrics.recordDeliveryOutcome({ eventType, tenant, outcome: status });
  // Failed attempts at warn, dead letters at error: what an operator's alerting keys on.
  const level = status === 'delivered' ? 'info' : status === 'retrying' ? 'warn' : 'error';
  deps.logger[level]({
    deliveryId: id, eventId, endpointId: subscription.endpointId, host: subscription.host, attempt, outcome: status,
    statusCode: answer.statusCode, durationMs, error: answer.error ?? undefined, nextAttemptInMs: waitMs,
  }, 'delivery attempt');

  if (status === 'delivered') return { attempt, statusCode: answer.statusCode! };
  if (status === 'failed') {
    const why = answer.verdict === 'failed' ? answer.error : `${answer.error}; no attempts left after ${madeInBudget + 1}`;
    throw ApplicationFailure.create({ type: deliveryFailureTypes.failed, message: `attempt ${attempt}: ${why}`, nonRetryable: true });
  }
  throw ApplicationFailure.create({
    type: deliveryFailureTypes.attemptFailed,
    message: `attempt ${attempt}: ${answer.error}; next attempt in ${Math.round(waitMs! / 1000)} s`,
    nextRetryDelay: waitMs,
  });
}

/** Loads what the attempt needs, POSTs, and reads the answer; never throws for the receiver's doing. */
async function postAttempt(deps: DeliverDeps, input: DeliveryActivityInput, attempt: number, startedAt: number): Promise<Answer> {
  const refused = (error: string): Answer => ({ verdict: 'failed', statusCode: null, error, responseExcerpt: null, responseHeaders: null });
  // Scoped to the event's tenant (defence in depth): another tenant's endpoint is not found.
  const endpoint = await deps.endpoints.forDelivery(input.event.tenant, input.subscription.endpointId);
  if (!endpoint) return refused('endpoint was deleted');
  if (!endpoint.enabled) return refused('endpoint is disabled');
  const event: HeraldEvent | undefined = 'data' in input.event && input.event.data !== undefined
    ? { ...input.event, data: input.event.data }
    : await deps.temporal.eventOf(input.eventWorkflowId);
  if (!event) return refused('the event is no longer retained');

  let request;
  try {
    request = await buildRequest({ event, endpoint, attempt: { number: attempt, sentAt: new Date(startedAt), webhookId: messageIdFor(event.tenant, event.id) } });
  } catch (err) {
    // A transform that fails (or runs away) fails the same way on every retry: final.
    if (err instanceof TransformError) return refused(`transform failed: ${err.message}`);
    throw err;
  }
  const { body, headers } = request;
  const cancelled = Context.current().cancellationSignal;
  try {
    const response = await send({ url: endpoint.url, headers, body, timeoutMs: endpoint.timeoutMs, signal: cancelled, dispatcher: deps.dispatcher });
    const verdict = classifyStatus(response.status);
    const kept = KEPT_RESPONSE_HEADERS.flatMap((name) => (response.headers[name] === undefined ? [] : [[name, [response.headers[name]].flat().join(', ')]]));
    return {
      verdict, statusCode: response.status, error: verdict === 'delivered' ? null : `HTTP ${response.status}`, responseExcerpt: response.excerpt,
      responseHeaders: kept.length ? Object.fromEntries(kept) : null,
      retryAfterMs: parseRetryAfter([response.headers['retry-after']].flat()[0] ?? null),
    };
  } catch (err) {
    // Cancelled (the worker is shutting down, or the workflow moved on): not the receiver's doing.
    if (cancelled.aborted || !(err instanceof SendError)) throw err;
    // A forbidden destination or a request that cannot be sent (an invalid header value) fails the same way every time: final.
    if (err.kind === 'forbidden' || err.kind === 'request') return refused(err.message);
    return { verdict: 'retry', statusCode: null, error: err.message, responseExcerpt: null, responseHeaders: null, networkFailure: err.kind };
  }
}
