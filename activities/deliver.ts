import { ApplicationFailure, Context } from '@temporalio/activity';
// undici's own fetch (the version Node 20 bundles): the global fetch's types take no dispatcher.
import { type Dispatcher, fetch, type Response } from 'undici';
import { classifyStatus, messageIdFor, parseRetryAfter, type Verdict } from '../src/delivery/classify.ts';
import { ForbiddenDestinationError } from '../src/delivery/destinations.ts';
import { formats } from '../src/formats/index.ts';
import type { Logger } from '../src/logger.ts';
import type { DeliveryMetrics } from '../src/metrics/index.ts';
import type { TrafficControl } from '../src/delivery/trafficControl.ts';
import { signerFor } from '../src/signing/index.ts';
import type { DeliveryLog } from '../src/storage/deliveryLog.ts';
import type { EndpointStore } from '../src/storage/endpoints.ts';
import type { HeraldTemporal } from '../src/temporal/heraldTemporal.ts';
import { version } from '../src/version.ts';
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

const EXCERPT_BYTES = 1024;
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
  // Held (rate limit, 429 slow-down, open circuit, FIFO line): no attempt row, so no attempt and no budget spent.
  const admission = await deps.traffic.admit(subscription.endpointId, id, startedAt);
  if (!admission.send) {
    const waitMs = Math.ceil(admission.waitMs);
    throw ApplicationFailure.create({ type: deliveryFailureTypes.held, message: `held: ${admission.reason}; next try in ${Math.ceil(waitMs / 1000)} s`, nextRetryDelay: waitMs });
  }
  const { attempt, madeInBudget } = await deps.log.nextAttempt(id, budget);
  const began = Date.now();
  const answer = await send(deps, input, startedAt);
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
  deps.metrics.recordAttempt({ eventType, verdict: answer.verdict, statusCode: answer.statusCode, durationMs, networkFailure: answer.networkFailure });
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
async function send(deps: DeliverDeps, input: DeliveryActivityInput, startedAt: number): Promise<Answer> {
  const refused = (error: string): Answer => ({ verdict: 'failed', statusCode: null, error, responseExcerpt: null, responseHeaders: null });
  const endpoint = await deps.endpoints.forDelivery(input.subscription.endpointId);
  if (!endpoint) return refused('endpoint was deleted');
  if (!endpoint.enabled) return refused('endpoint is disabled');
  // Defence in depth: a subscription can only name its own tenant's endpoint.
  if (endpoint.tenant !== input.event.tenant) return refused('endpoint belongs to another tenant');
  const event: HeraldEvent | undefined = 'data' in input.event && input.event.data !== undefined
    ? { ...input.event, data: input.event.data }
    : await deps.temporal.eventOf(input.eventWorkflowId);
  if (!event) return refused('the event is no longer retained');

  const body = JSON.stringify(formats[endpoint.format](event, endpoint));
  const headers = {
    ...endpoint.headers,
    'content-type': 'application/json',
    'user-agent': `Herald/${version}`,
    ...signerFor(endpoint.signature)({
      messageId: messageIdFor(event.tenant, event.id),
      eventType: event.type,
      timestamp: Math.floor(startedAt / 1000),
      body,
      secrets: endpoint.secrets,
    }),
  };
  const cancelled = Context.current().cancellationSignal;
  try {
    const response = await fetch(endpoint.url, {
      method: 'POST', headers, body, redirect: 'manual', dispatcher: deps.dispatcher,
      signal: AbortSignal.any([AbortSignal.timeout(endpoint.timeoutMs), cancelled]),
    });
    const responseExcerpt = await readExcerpt(response);
    const verdict = classifyStatus(response.status);
    const kept = KEPT_RESPONSE_HEADERS.flatMap((name) => (response.headers.has(name) ? [[name, response.headers.get(name)!]] : []));
    return {
      verdict, statusCode: response.status, error: verdict === 'delivered' ? null : `HTTP ${response.status}`, responseExcerpt,
      responseHeaders: kept.length ? Object.fromEntries(kept) : null,
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
    };
  } catch (err) {
    // Cancelled (the worker is shutting down, or the workflow moved on): not the receiver's doing.
    if (cancelled.aborted) throw err;
    // A forbidden destination stays forbidden: failed at once, not retried.
    const forbidden = err instanceof Error && err.cause instanceof ForbiddenDestinationError ? err.cause : undefined;
    if (forbidden) return refused(forbidden.message);
    return {
      verdict: 'retry', statusCode: null, error: describeFetchError(err, endpoint.timeoutMs), responseExcerpt: null, responseHeaders: null,
      networkFailure: isTimeout(err) ? 'timeout' : 'connection',
    };
  }
}

/** The first KiB of the answer, for the attempt log; the rest is discarded unread. */
async function readExcerpt(response: Response): Promise<string | null> {
  if (!response.body) return null;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < EXCERPT_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body cut short still leaves its status code as the outcome.
  } finally {
    void reader.cancel().catch(() => undefined);
  }
  return size === 0 ? null : Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8');
}

const isTimeout = (err: unknown) => err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');

function describeFetchError(err: unknown, timeoutMs: number): string {
  if (isTimeout(err)) return `timed out after ${timeoutMs} ms`;
  // undici wraps the socket error; with several addresses tried it is an AggregateError.
  const cause = err instanceof Error ? err.cause : undefined;
  const socketError = (cause instanceof AggregateError ? cause.errors[0] : cause) as { code?: string; message?: string } | undefined;
  if (socketError?.code) return socketError.message?.includes(socketError.code) ? socketError.message : `${socketError.code}: ${socketError.message}`;
  return err instanceof Error ? err.message : String(err);
}
