/**
 * For services that receive Herald's webhooks: check that a request was signed by Herald
 * with a secret you hold, before trusting its body.
 *
 *   import { verifyWebhook, verifyWebhookMiddleware } from 'herald/receiver';
 */
import crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler } from 'express';
import { hmacSha256Signature, standardWebhooksMac } from '../signing/index.ts';

/** Why a request was refused. The message names what failed, never a secret. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
}

export interface VerifyOptions {
  /**
   * `standard-webhooks` (default): `webhook-id`, `webhook-timestamp`, `webhook-signature`.
   * `hmac-sha256`: `<header>: sha256=<hex HMAC of the body>`, keyed by the secret's UTF-8 bytes.
   */
  scheme?: 'standard-webhooks' | 'hmac-sha256';
  /** hmac-sha256 only: the header carrying the signature; `X-Signature` by default. */
  header?: string;
  /** How far `webhook-timestamp` may be from now, in seconds; 300 by default. Guards against replayed requests. */
  toleranceSeconds?: number;
  /** The clock timestamps are checked against; the current time by default. */
  now?: Date;
}

export type IncomingHeaders = Headers | IncomingHttpHeaders | Record<string, string | string[] | undefined>;

const DEFAULT_TOLERANCE_SECONDS = 300;

function header(headers: IncomingHeaders, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  const value = key === undefined ? undefined : headers[key];
  return Array.isArray(value) ? value[0] : value;
}

function required(headers: IncomingHeaders, name: string): string {
  const value = header(headers, name);
  if (!value) throw new WebhookVerificationError(`missing ${name} header`);
  return value;
}

/** Constant-time equality; signatures of different lengths are simply unequal. */
function sameSignature(given: string, expected: string): boolean {
  const a = Buffer.from(given), b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/**
 * Throws a WebhookVerificationError unless one of the request's signatures was made with one of
 * `secrets` over exactly `rawBody` (the bytes as received, before any JSON parsing). Pass the old
 * and the new secret during a rotation.
 */
export function verifyWebhook(rawBody: string | Buffer, headers: IncomingHeaders, secrets: string | string[], options: VerifyOptions = {}): void {
  const keys = [secrets].flat().filter(Boolean);
  if (keys.length === 0) throw new WebhookVerificationError('no secret to verify with');

  if (options.scheme === 'hmac-sha256') {
    const given = required(headers, options.header ?? 'X-Signature');
    if (!keys.some((key) => sameSignature(given, hmacSha256Signature(key, rawBody)))) {
      throw new WebhookVerificationError('the signature does not match the body with any of the secrets');
    }
    return;
  }

  const id = required(headers, 'webhook-id');
  const timestamp = required(headers, 'webhook-timestamp');
  const signatures = required(headers, 'webhook-signature').split(' ').filter((s) => s.startsWith('v1,'));
  if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookVerificationError('webhook-timestamp is not unix seconds');
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) {
    throw new WebhookVerificationError('webhook-timestamp is too far from now');
  }
  const expected = keys.map((key) => standardWebhooksMac(key, id, timestamp, rawBody));
  if (!signatures.some((given) => expected.some((mine) => sameSignature(given, mine)))) {
    throw new WebhookVerificationError('no signature matches the body with any of the secrets');
  }
}

export interface MiddlewareOptions extends VerifyOptions {
  /** Larger bodies are refused with 413 before verification; 1 MiB by default. */
  limitBytes?: number;
}

/**
 * Express middleware for a webhook route: verifies the raw body, answers 401 problem+json when it
 * does not verify, and otherwise puts the parsed JSON in `req.body`. Use it in place of
 * `express.json()` on that route (it also accepts a Buffer left by `express.raw()`).
 */
export function verifyWebhookMiddleware(secrets: string | string[], options: MiddlewareOptions = {}): RequestHandler {
  const limit = options.limitBytes ?? 1024 * 1024;
  return async (req, res, next) => {
    if (req.body !== undefined && !Buffer.isBuffer(req.body)) {
      throw new Error('verifyWebhookMiddleware needs the raw body: mount it before express.json(), or after express.raw()');
    }
    const raw = Buffer.isBuffer(req.body) ? req.body : await readBody(req, limit);
    const refuse = (status: number, title: string, detail: string) =>
      res.status(status).type('application/problem+json').json({ type: 'about:blank', title, status, detail });
    if (raw === undefined) return refuse(413, 'Payload Too Large', `body exceeds ${limit} bytes`);
    try {
      verifyWebhook(raw, req.headers, secrets, options);
    } catch (err) {
      if (err instanceof WebhookVerificationError) return refuse(401, 'Unauthorized', err.message);
      throw err;
    }
    try {
      req.body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
    } catch {
      return refuse(400, 'Invalid JSON', 'the signed body is not valid JSON');
    }
    next();
  };
}

/** The whole body, or undefined once it passes `limit` bytes. */
async function readBody(stream: AsyncIterable<Buffer>, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
