import type { IncomingHttpHeaders } from 'node:http';
import { type Dispatcher, errors as undiciErrors, getGlobalDispatcher } from 'undici';
import { ForbiddenDestinationError } from './destinations.ts';
import { EgressProxyError } from './egressProxy.ts';

/** One attempt's request: POST `body` with `headers` to `url`, answered or abandoned within `timeoutMs`. */
export interface SendRequest {
  url: string;
  headers: Record<string, string>;
  body: string | Buffer;
  timeoutMs: number;
  /** Aborts the request early (the worker shutting down); the abort reason is rethrown as is. */
  signal?: AbortSignal;
  /** The HTTP agent to go through (deliveryDispatcher); undici's global one when unset. */
  dispatcher?: Dispatcher;
  /** How much of the body to read: EXCERPT_BYTES unless set (a token response is read whole). */
  excerptBytes?: number;
}

export interface SendResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The first KiB of the body (UTF-8), whatever of it arrived before the deadline; null when none did. */
  excerpt: string | null;
}

/**
 * Why a request got no answer: `timeout`, `connection` and `proxy` (the egress proxy failed, not the
 * receiver) are worth another attempt; `forbidden`
 * (a private destination) and `request` (a request that cannot be sent as configured, such as
 * an invalid header value or a URL with credentials) fail the same way every time.
 */
export type SendFailureKind = 'timeout' | 'connection' | 'proxy' | 'forbidden' | 'request';

export class SendError extends Error {
  constructor(readonly kind: SendFailureKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SendError';
  }
}

export const EXCERPT_BYTES = 1024;

/** The reason the attempt's own deadline aborts with, told apart from a caller's abort. */
class DeadlineReached extends Error {}

/**
 * POSTs one attempt and answers the receiver's status, headers and the first KiB of its body,
 * or throws a SendError saying why there was no answer.
 *
 * The deadline covers connecting, the headers and the excerpt alike, and is held strongly: a
 * plain timer aborts the request. (AbortSignal.any over AbortSignal.timeout holds the timeout
 * weakly on Node 20: after a major GC, an attempt against a receiver that never answered ran on
 * until undici's 300 s defaults.) undici's own headersTimeout and bodyTimeout back it up. A
 * status that arrives in time is the answer even when the body then trickles past the deadline:
 * the excerpt is cut there, and the receiver has already said what it did with the request.
 */
export async function send(request: SendRequest): Promise<SendResponse> {
  const url = new URL(request.url);
  // Never sent nor repeated in the error: the attempt log is readable by the tenant and the logs by operators.
  if (url.username || url.password) throw new SendError('request', 'the endpoint URL carries credentials (user:password@); put them in a header instead');

  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new DeadlineReached()), request.timeoutMs);
  const abortFromCaller = () => deadline.abort(request.signal!.reason);
  request.signal?.addEventListener('abort', abortFromCaller, { once: true });
  try {
    if (request.signal?.aborted) throw request.signal.reason;
    const response = await (request.dispatcher ?? getGlobalDispatcher()).request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers: request.headers,
      body: request.body,
      signal: deadline.signal,
      headersTimeout: request.timeoutMs,
      bodyTimeout: request.timeoutMs,
    });
    return { status: response.statusCode, headers: response.headers, excerpt: await readExcerpt(response.body, request.excerptBytes ?? EXCERPT_BYTES) };
  } catch (err) {
    if (request.signal?.aborted) throw request.signal.reason;
    throw classify(err, request.timeoutMs, deadline.signal.reason instanceof DeadlineReached);
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener('abort', abortFromCaller);
  }
}

/** Up to `limit` bytes of the body; the rest is discarded unread. A body cut short (the deadline) keeps what arrived. */
async function readExcerpt(body: Dispatcher.ResponseData['body'], limit: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).byteLength;
      if (size >= limit) break;
    }
  } catch {
    // Cut short: what arrived is the excerpt.
  } finally {
    body.destroy();
  }
  return size === 0 ? null : Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

function classify(err: unknown, timeoutMs: number, deadlineReached: boolean): SendError {
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  const forbidden = err instanceof ForbiddenDestinationError ? err : cause;
  if (forbidden instanceof ForbiddenDestinationError) return new SendError('forbidden', forbidden.message, { cause: forbidden });
  const proxy = err instanceof EgressProxyError ? err : cause;
  if (proxy instanceof EgressProxyError) return new SendError('proxy', proxy.message, { cause: proxy });
  const code = (err as { code?: string } | undefined)?.code;
  if (deadlineReached || (code && timeoutCodes.has(code))) return new SendError('timeout', `timed out after ${timeoutMs} ms`, { cause: err });
  // undici refuses a header name or value it cannot send (InvalidArgumentError; TypeError from fetch's Headers).
  if (err instanceof undiciErrors.InvalidArgumentError || err instanceof TypeError) {
    return new SendError('request', `the request cannot be sent: ${(err as Error).message}`, { cause: err });
  }
  return new SendError('connection', describeConnectionError(err), { cause: err });
}

function describeConnectionError(err: unknown): string {
  // With several addresses tried, the socket errors come as an AggregateError.
  const socketError = (err instanceof AggregateError ? err.errors[0] : err) as { code?: string; message?: string } | undefined;
  if (socketError?.code) return socketError.message?.includes(socketError.code) ? socketError.message : `${socketError.code}: ${socketError.message}`;
  return err instanceof Error ? err.message : String(err);
}
