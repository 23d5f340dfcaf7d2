import { Context } from '@temporalio/activity';
import type { Dispatcher } from 'undici';
import { classifyStatus, messageIdFor, parseRetryAfter } from '../src/delivery/classify.ts';
import { send, SendError } from '../src/delivery/send.ts';
import { formats } from '../src/formats/index.ts';
import type { Logger } from '../src/logger.ts';
import type { DeliveryMetrics } from '../src/metrics/index.ts';
import { signerFor } from '../src/signing/index.ts';
import type { EndpointStore } from '../src/storage/endpoints.ts';
import { version } from '../src/version.ts';
import type { AttemptOutcome, HeraldEvent } from '../workflows/types.ts';

export interface AttemptInput {
  event: HeraldEvent;
  endpointId: string;
  attempt: number;
}

/** One attempt: build the body, sign it for this moment, POST it, classify the answer. */
export async function attemptDelivery(
  deps: { endpoints: EndpointStore; logger: Logger; metrics: DeliveryMetrics; dispatcher?: Dispatcher },
  { event, endpointId, attempt }: AttemptInput,
): Promise<AttemptOutcome> {
  const started = Date.now();
  const record = (fields: Omit<AttemptOutcome, 'durationMs'>, networkFailure?: 'timeout' | 'connection'): AttemptOutcome => {
    const result = { durationMs: Date.now() - started, ...fields };
    deps.logger.info(
      { deliveryId: Context.current().info.workflowExecution?.workflowId, eventId: event.id, endpointId, attempt,
        statusCode: result.statusCode, verdict: result.verdict, durationMs: result.durationMs, error: result.error ?? undefined },
      'delivery attempt',
    );
    deps.metrics.recordAttempt({ eventType: event.type, ...result, networkFailure });
    return result;
  };

  const endpoint = await deps.endpoints.forDelivery(event.tenant, endpointId);
  if (!endpoint || !endpoint.enabled) {
    return record({ statusCode: null, error: endpoint ? 'endpoint is disabled' : 'endpoint was deleted', responseExcerpt: null, verdict: 'failed' });
  }
  const body = JSON.stringify(formats[endpoint.format](event, endpoint));
  const headers = {
    ...endpoint.headers,
    'content-type': 'application/json',
    'user-agent': `Herald/${version}`,
    ...signerFor(endpoint.signature)({
      messageId: messageIdFor(event.tenant, event.id),
      eventType: event.type,
      // Never before the attempt's own schedule: equal to now in production, ahead of
      // the wall clock only under a time-skipping test server.
      timestamp: Math.floor(Math.max(Date.now(), Context.current().info.currentAttemptScheduledTimestampMs) / 1000),
      body,
      secrets: endpoint.secrets,
    }),
  };
  const cancelled = Context.current().cancellationSignal;
  try {
    const response = await send({ url: endpoint.url, headers, body, timeoutMs: endpoint.timeoutMs, signal: cancelled, dispatcher: deps.dispatcher });
    const verdict = classifyStatus(response.status);
    return record({
      statusCode: response.status,
      error: verdict === 'delivered' ? null : `HTTP ${response.status}`,
      responseExcerpt: response.excerpt,
      verdict,
      retryAfterMs: parseRetryAfter([response.headers['retry-after']].flat()[0] ?? null),
    });
  } catch (err) {
    // Cancelled (the worker is shutting down): not the receiver's doing, so no attempt is recorded;
    // Temporal runs this attempt again on a worker that is up.
    if (cancelled.aborted || !(err instanceof SendError)) throw err;
    // A forbidden destination or a request that cannot be sent (an invalid header value) fails the same way every time: final.
    const retryable = err.kind === 'timeout' || err.kind === 'connection' ? err.kind : undefined;
    return record({ statusCode: null, error: err.message, responseExcerpt: null, verdict: retryable ? 'retry' : 'failed' }, retryable);
  }
}
