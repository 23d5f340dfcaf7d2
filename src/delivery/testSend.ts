import { type Dispatcher, request as send } from 'undici';
import { ForbiddenDestinationError } from './destinations.ts';
import type { OutboundRequest } from './request.ts';

/** The answer to a one-off test send, in the SaaS platform's shape. */
export interface TestSendResult {
  success: boolean;
  statusCode: number | null;
  responseTimeMs: number;
  error: string | null;
}

/**
 * Sends one request straight from the API, outside Temporal (nothing to retry or record): through
 * the same guarded dispatcher as deliveries, so the same address rules hold, no redirects followed.
 */
export async function sendOnce(outbound: OutboundRequest, options: { timeoutMs: number; dispatcher: Dispatcher }): Promise<TestSendResult> {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const response = await send(outbound.url, {
      method: outbound.method, headers: outbound.headers, body: outbound.body,
      dispatcher: options.dispatcher, signal: AbortSignal.timeout(options.timeoutMs),
    });
    await response.body.dump();
    const success = response.statusCode >= 200 && response.statusCode < 300;
    return { success, statusCode: response.statusCode, responseTimeMs: elapsed(), error: success ? null : `HTTP ${response.statusCode}` };
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof ForbiddenDestinationError ? err.cause : err;
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    const message = timedOut ? `timed out after ${options.timeoutMs} ms` : cause instanceof Error ? cause.message : String(cause);
    return { success: false, statusCode: null, responseTimeMs: elapsed(), error: message };
  }
}
