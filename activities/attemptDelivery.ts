import { Context } from '@temporalio/activity';
// undici's request(), not fetch: fetch adds browser headers (sec-fetch-mode, accept-language, ...)
// that Herald never means to send to a receiver.
import { type Dispatcher, request as send } from 'undici';
import { classifyStatus, messageIdFor, parseRetryAfter } from '../src/delivery/classify.ts';
import { ForbiddenDestinationError } from '../src/delivery/destinations.ts';
import { buildRequest, TransformError } from '../src/delivery/request.ts';
import type { Logger } from '../src/logger.ts';
import type { DeliveryMetrics } from '../src/metrics/index.ts';
import type { EndpointStore } from '../src/storage/endpoints.ts';
import type { AttemptOutcome, HeraldEvent } from '../workflows/types.ts';

export interface AttemptInput {
  event: HeraldEvent;
  endpointId: string;
  attempt: number;
}

const EXCERPT_BYTES = 1024;

/** One attempt: build the body, sign it for this moment, POST it, classify the answer. */
export async function attemptDelivery(
  deps: { endpoints: EndpointStore; logger: Logger; metrics: DeliveryMetrics; dispatcher?: Dispatcher },
  { event, endpointId, attempt }: AttemptInput,
): Promise<AttemptOutcome> {
  const started = Date.now();
  let host: string | undefined;
  const record = (fields: Omit<AttemptOutcome, 'durationMs'>, networkFailure?: 'timeout' | 'connection'): AttemptOutcome => {
    const result = { durationMs: Date.now() - started, ...fields };
    // A failed attempt is a warning; one that ends the delivery (today: a final answer) an error.
    deps.logger[result.verdict === 'delivered' ? 'info' : result.verdict === 'retry' ? 'warn' : 'error'](
      { deliveryId: Context.current().info.workflowExecution?.workflowId, eventId: event.id, endpointId, host, attempt,
        statusCode: result.statusCode, verdict: result.verdict, durationMs: result.durationMs, error: result.error ?? undefined },
      'delivery attempt',
    );
    deps.metrics.recordAttempt({ eventType: event.type, tenant: event.tenant, ...result, networkFailure });
    // Today's engine: these verdicts end the delivery (exhausted retries end in the workflow; engine v2 reports those too).
    if (result.verdict !== 'retry') deps.metrics.recordDeliveryOutcome({ eventType: event.type, tenant: event.tenant, outcome: result.verdict });
    return result;
  };

  const endpoint = await deps.endpoints.forDelivery(endpointId);
  host = endpoint && new URL(endpoint.url).host;
  if (!endpoint || !endpoint.enabled) {
    return record({ statusCode: null, error: endpoint ? 'endpoint is disabled' : 'endpoint was deleted', responseExcerpt: null, verdict: 'failed' });
  }
  let request;
  try {
    request = await buildRequest({
      event, endpoint,
      // Never before the attempt's own schedule: equal to now in production, ahead of
      // the wall clock only under a time-skipping test server.
      attempt: { number: attempt, sentAt: new Date(Math.max(Date.now(), Context.current().info.currentAttemptScheduledTimestampMs)), webhookId: messageIdFor(event.tenant, event.id) },
    });
  } catch (err) {
    // A transform that fails (or runs away) fails the same way on every retry: final.
    if (err instanceof TransformError) return record({ statusCode: null, error: `transform failed: ${err.message}`, responseExcerpt: null, verdict: 'failed' });
    throw err;
  }
  const { body, headers } = request;
  const cancelled = Context.current().cancellationSignal;
  try {
    // request() follows no redirects: a 3xx is the outcome.
    const response = await send(endpoint.url, {
      method: 'POST', headers, body, dispatcher: deps.dispatcher,
      signal: AbortSignal.any([AbortSignal.timeout(endpoint.timeoutMs), cancelled]),
    });
    const excerpt = await readExcerpt(response.body);
    const verdict = classifyStatus(response.statusCode);
    const retryAfter = response.headers['retry-after'];
    return record({
      statusCode: response.statusCode,
      error: verdict === 'delivered' ? null : `HTTP ${response.statusCode}`,
      responseExcerpt: excerpt,
      verdict,
      retryAfterMs: parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0]! : retryAfter ?? null),
    });
  } catch (err) {
    // Cancelled (the worker is shutting down): not the receiver's doing, so no attempt is recorded;
    // Temporal runs this attempt again on a worker that is up.
    if (cancelled.aborted) throw err;
    // A forbidden destination stays forbidden: failed at once, not retried.
    const forbidden = err instanceof ForbiddenDestinationError ? err : err instanceof Error && err.cause instanceof ForbiddenDestinationError ? err.cause : undefined;
    if (forbidden) return record({ statusCode: null, error: forbidden.message, responseExcerpt: null, verdict: 'failed' });
    return record(
      { statusCode: null, error: describeFetchError(err, endpoint.timeoutMs), responseExcerpt: null, verdict: 'retry' },
      isTimeout(err) ? 'timeout' : 'connection',
    );
  }
}

/** The first KiB of the answer, for the attempt log; the rest is discarded unread. */
async function readExcerpt(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size >= EXCERPT_BYTES) break;
    }
  } catch {
    // A body cut short still leaves its status code as the outcome.
  } finally {
    body.destroy();
  }
  return size === 0 ? null : Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8');
}

const isTimeout = (err: unknown) => err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');

function describeFetchError(err: unknown, timeoutMs: number): string {
  if (isTimeout(err)) return `timed out after ${timeoutMs} ms`;
  // The socket error itself, or wrapped; with several addresses tried it is an AggregateError.
  const cause = err instanceof Error && (err as { code?: string }).code === undefined ? err.cause : err;
  const socketError = (cause instanceof AggregateError ? cause.errors[0] : cause) as { code?: string; message?: string } | undefined;
  if (socketError?.code) return socketError.message?.includes(socketError.code) ? socketError.message : `${socketError.code}: ${socketError.message}`;
  return err instanceof Error ? err.message : String(err);
}
