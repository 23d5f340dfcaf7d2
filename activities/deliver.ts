import { ApplicationFailure, Context } from '@temporalio/activity';
import { classifyStatus, messageIdFor, parseRetryAfter, type Verdict } from '../src/delivery/classify.ts';
import { EXCERPT_BYTES, send, SendError } from '../src/delivery/send.ts';
import { EndpointCredentials } from '../src/delivery/credentials.ts';
import { buildRequest, requestAsSent, TransformError } from '../src/delivery/request.ts';
import { delayBeforeNextAttempt } from '../src/delivery/retryPolicy.ts';
import { SandboxUnavailable } from '../src/sandbox/index.ts';
import { describeAttemptSpan, traceContextHeaders } from '../src/tracing.ts';
import type { Logger } from '../src/logger.ts';
import type { DeliveryMetrics } from '../src/metrics/index.ts';
import { raiseOperationalEvent } from '../src/endpoints/operationalEvents.ts';
import type { TrafficChanges, TrafficControl } from '../src/endpoints/trafficControl.ts';
import type { DeliveryLog, SentRequest } from '../src/storage/deliveryLog.ts';
import type { EndpointStore } from '../src/endpoints/store.ts';
import type { HeraldTemporal } from '../src/temporal/heraldTemporal.ts';
import { deliveryFailureTypes, deliveryId, type DeliveryActivityInput, type HeraldEvent } from '../workflows/contract.ts';

export interface DeliverDeps {
  endpoints: EndpointStore;
  log: DeliveryLog;
  /** Reads a large event's data from its workflow (for deliveries that carry none); raises operational events; gives a FIFO delivery its turn. */
  temporal: Pick<HeraldTemporal, 'eventOf' | 'ingest' | 'signal'>;
  logger: Logger;
  metrics: DeliveryMetrics;
  traffic: TrafficControl;
  /** The HTTP agents deliveries go through (deliveryDispatcher) and the endpoints' credentials; unguarded when unset (tests). */
  credentials?: EndpointCredentials;
}

const unguardedCredentials = new EndpointCredentials({ guarded: false, keepAlive: true });

/** What one attempt learned from the receiver (or from failing to reach it), or why Herald failed it before sending. */
interface Answer {
  verdict: Verdict;
  /** False for Herald's own failures (the endpoint gone, a transform that fails on the event, the egress proxy): they say nothing of the receiver. */
  countsAgainstEndpoint: boolean;
  statusCode: number | null;
  error: string | null;
  responseExcerpt: string | null;
  responseHeaders: Record<string, string> | null;
  /** The request as sent, for the attempt log; null when none was built. */
  request: SentRequest | null;
  retryAfterMs?: number;
  networkFailure?: 'timeout' | 'connection' | 'proxy';
}

/** Response headers the attempt log keeps: the ones that explain an outcome. */
const KEPT_RESPONSE_HEADERS = ['retry-after', 'location'];

/** A final failure with no answer: Herald's own by default (nothing was sent, so it says nothing of the receiver). */
const noAnswer = (error: string, countsAgainstEndpoint = false, request: SentRequest | null = null): Answer => ({
  verdict: 'failed', countsAgainstEndpoint, statusCode: null, error, responseExcerpt: null, responseHeaders: null, request,
});

/**
 * One attempt at one delivery; Temporal runs it again for each retry. Admit it (traffic control),
 * build the body and sign it for this moment, send it, classify the answer, record it (attempt log,
 * traffic state), react (operational events, the next FIFO delivery's turn), then: complete
 * (delivered), fail with the policy's next delay (Temporal retries after it, without waking the
 * workflow), or fail for good.
 * Holds by traffic control are Temporal retries too, all within the activity's schedule-to-close
 * timeout: a hold or a wait that would outlast it ends the delivery here, so the attempt log says so.
 */
export async function deliver(deps: DeliverDeps, input: DeliveryActivityInput): Promise<{ attempt: number; statusCode: number }> {
  const { subscription, budget } = input;
  const { tenant, id: eventId, type: eventType } = input.event;
  const id = deliveryId(tenant, eventId, subscription.endpointId);
  const info = Context.current().info;
  // Equal to now in production; ahead of the wall clock only under a time-skipping test server.
  const startedAt = Math.max(Date.now(), info.currentAttemptScheduledTimestampMs);
  const outlastsTimeLimit = (at: number) => info.scheduleToCloseTimeoutMs > 0 && at > info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs;
  // Held (rate limit, 429 slow-down, open circuit) or queued (FIFO line): no attempt row, so no attempt and no budget spent.
  const admission = await deps.traffic.admit(subscription.endpointId, { id, budget }, startedAt);
  let heldTooLong: string | undefined;
  if (!admission.send) {
    const waitMs = Math.ceil(admission.waitMs);
    const message = `held: ${admission.reason}; next try in ${Math.ceil(waitMs / 1000)} s`;
    // Queued: the workflow waits for its turn, which the delivery ahead signals (a new activity, with a time limit of its own).
    if (admission.reason === 'not-first-in-line') {
      throw ApplicationFailure.create({ type: deliveryFailureTypes.queued, message, nonRetryable: true, details: [waitMs] });
    }
    // Held: Temporal retries after the wait, unless that is past the activity's time limit.
    if (!outlastsTimeLimit(startedAt + waitMs)) throw ApplicationFailure.create({ type: deliveryFailureTypes.held, message, nextRetryDelay: waitMs, details: [waitMs] });
    heldTooLong = `held (${admission.reason}) past the delivery's time limit`;
  }
  const { number: attempt, madeInBudget } = admission.attempt;
  const began = Date.now();
  const answer = heldTooLong ? noAnswer(heldTooLong) : await postAttempt(deps, input, attempt, startedAt);
  const durationMs = Date.now() - began;
  describeAttemptSpan({ deliveryId: id, attempt, statusCode: answer.statusCode });

  const policyWaitMs = answer.verdict === 'retry' ? delayBeforeNextAttempt(subscription.schedule, madeInBudget + 1, answer.retryAfterMs, Math.random) : undefined;
  const outOfTime = policyWaitMs !== undefined && outlastsTimeLimit(startedAt + durationMs + policyWaitMs);
  const waitMs = outOfTime ? undefined : policyWaitMs;
  const status = answer.verdict === 'delivered' ? 'delivered' : waitMs === undefined ? 'failed' : 'retrying';
  // One write: the attempt log's row and the delivery's state, with the endpoint's traffic state and health.
  const record = deps.log.attemptRecord({
    deliveryId: id, tenant, eventId, endpointId: subscription.endpointId, eventType, attempt, budget,
    startedAt: new Date(startedAt).toISOString(), durationMs, statusCode: answer.statusCode, error: answer.error,
    responseExcerpt: answer.responseExcerpt, responseHeaders: answer.responseHeaders, request: answer.request, status,
    nextAttemptAt: waitMs === undefined ? null : new Date(startedAt + durationMs + waitMs).toISOString(),
  });
  const changes = await deps.traffic.recordOutcome(subscription.endpointId, {
    deliveryId: id, eventId, eventType, attempt, status, statusCode: answer.statusCode, error: answer.error, at: startedAt, durationMs, waitMs,
    countsAgainstEndpoint: answer.countsAgainstEndpoint,
  }, record);
  await react(deps, subscription.endpointId, changes);
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
    const why = answer.verdict === 'failed' ? answer.error
      : outOfTime ? `${answer.error}; the delivery's time limit ends before the next attempt` : `${answer.error}; no attempts left after ${madeInBudget + 1}`;
    throw ApplicationFailure.create({ type: deliveryFailureTypes.failed, message: `attempt ${attempt}: ${why}`, nonRetryable: true });
  }
  throw ApplicationFailure.create({
    type: deliveryFailureTypes.attemptFailed,
    message: `attempt ${attempt}: ${answer.error}; next attempt in ${Math.round(waitMs! / 1000)} s`,
    nextRetryDelay: waitMs,
    // The wait in the details too: workflow code sees no nextRetryDelay (the SDK does not decode it), and waits itself after a local attempt.
    details: [waitMs],
  });
}

/** Loads what the attempt needs, POSTs, and reads the answer; never throws for the receiver's doing, nor for the event's. */
async function postAttempt(deps: DeliverDeps, input: DeliveryActivityInput, attempt: number, startedAt: number): Promise<Answer> {
  // Scoped to the event's tenant (defence in depth): another tenant's endpoint is not found.
  const endpoint = await deps.endpoints.forDelivery(input.event.tenant, input.subscription.endpointId);
  if (!endpoint) return noAnswer('endpoint was deleted');
  if (!endpoint.enabled) return noAnswer('endpoint is disabled');
  // Judged at ingest; a replay (a later attempt) sends the event whatever the filter said.
  if (input.subscription.filterFailure && attempt === 1) return noAnswer(`filter failed: ${input.subscription.filterFailure}`);
  const event: HeraldEvent | undefined = 'data' in input.event && input.event.data !== undefined
    ? { ...input.event, data: input.event.data }
    : await deps.temporal.eventOf(input.eventWorkflowId);
  if (!event) return noAnswer('the event is no longer retained');

  let request;
  try {
    request = await buildRequest({ event, endpoint, attempt: { number: attempt, sentAt: new Date(startedAt), webhookId: messageIdFor(event.tenant, event.id) } });
  } catch (err) {
    // No sandbox thread could evaluate the transform: Herald's own fault, gone on a later try, so Temporal retries the
    // activity (bounded by its schedule-to-close timeout) and no attempt is recorded.
    if (err instanceof SandboxUnavailable) throw err;
    // The endpoint's settings on this event: built the same way on every retry, so final (a transform that fails or
    // runs away and is stopped at its deadline, or anything else that refuses to build); the event's doing, not the receiver's.
    return noAnswer(err instanceof TransformError ? `transform failed: ${err.message}` : `request could not be built: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { body } = request;
  // A traced event's attempt names its own span as the receiver's parent (it replaces a traceparent the endpoint sets).
  const headers = { ...request.headers, ...traceContextHeaders() };
  // Endpoint authentication adds its header as the request goes out; the log shows it there, masked.
  const sendsAuthorization = endpoint.auth !== null && endpoint.auth !== undefined && endpoint.auth.type !== 'mtls';
  const sent = requestAsSent({ ...request, headers: sendsAuthorization ? { ...headers, authorization: '' } : headers }, endpoint.signature, endpoint.headers, EXCERPT_BYTES);
  const cancelled = Context.current().cancellationSignal;
  const credentials = deps.credentials ?? unguardedCredentials;
  const sendWith = async (rejected?: string) => {
    const authorization = endpoint.auth ? await credentials.authorization(endpoint, { rejected }) : undefined;
    const response = await send({
      url: endpoint.url, headers: authorization ? { ...headers, authorization } : headers, body, timeoutMs: endpoint.timeoutMs, signal: cancelled,
      dispatcher: credentials.dispatcherFor(endpoint),
    });
    return { authorization, response };
  };
  try {
    let { authorization, response } = await sendWith();
    // A token the receiver refuses may have been revoked or expired early: one fresh token before the attempt counts.
    if (response.status === 401 && endpoint.auth?.type === 'oauth2-client-credentials') ({ response } = await sendWith(authorization));
    const verdict = classifyStatus(response.status);
    const kept = KEPT_RESPONSE_HEADERS.flatMap((name) => (response.headers[name] === undefined ? [] : [[name, [response.headers[name]].flat().join(', ')]]));
    return {
      verdict, countsAgainstEndpoint: true, statusCode: response.status, error: verdict === 'delivered' ? null : `HTTP ${response.status}`, responseExcerpt: response.excerpt,
      responseHeaders: kept.length ? Object.fromEntries(kept) : null, request: sent,
      retryAfterMs: parseRetryAfter([response.headers['retry-after']].flat()[0] ?? null),
    };
  } catch (err) {
    // Cancelled (the worker is shutting down, or the workflow moved on): not the receiver's doing.
    if (cancelled.aborted || !(err instanceof SendError)) throw err;
    // A request that cannot be sent (a header value undici refuses, which a transform may give for one event) fails
    // the same way every time: final, and Herald's. A forbidden destination is final too, and the endpoint's own.
    if (err.kind === 'request') return noAnswer(err.message, false, sent);
    if (err.kind === 'forbidden') return noAnswer(err.message, true, sent);
    // The egress proxy failing says nothing of the receiver: retried, but its circuit and auto-disable are left alone.
    return { verdict: 'retry', countsAgainstEndpoint: err.kind !== 'proxy', statusCode: null, error: err.message, responseExcerpt: null, responseHeaders: null, request: sent, networkFailure: err.kind };
  }
}

/**
 * Performs what traffic control answered, through the Temporal facade: the next FIFO delivery gets
 * its turn, and the operational events are raised. Neither may fail the attempt that caused them.
 */
export async function react(
  deps: Pick<DeliverDeps, 'endpoints' | 'log' | 'logger'> & { temporal: Pick<HeraldTemporal, 'ingest' | 'signal'> }, endpointId: string, changes: TrafficChanges,
): Promise<void> {
  const next = changes.nextInLine;
  if (next) {
    await deps.temporal.signal(next.tenant, next.event_id, 'turn', { endpointId }).catch((err: unknown) => {
      deps.logger.warn({ err, endpointId, deliveryId: next.id }, 'could not wake the next FIFO delivery; it goes at its recheck');
    });
  }
  for (const notice of changes.notices) await raiseOperationalEvent(deps, notice);
}
