import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

const CENSOR = '[redacted]';
/** Keys whose values are credentials wherever they appear, whatever their case. */
const credentialKey = /secret|authorization|api[-_]?key|password|token/i;
/** Signature headers (`webhook-signature`, `X-Signature`, a custom `X-Acme-Signature`); an endpoint's `signature` settings object stays. */
const signatureKey = /signature/i;
const MAX_DEPTH = 6;

/**
 * Censors credentials at any depth and in any letter case before a line is written. pino's
 * path-based `redact` cannot do either, and header names vary by endpoint (`X-Webhook-Secret`,
 * a configurable HMAC header), so this walks the (small) object of each log call instead.
 */
function censorCredentials(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => censorCredentials(item, depth + 1));
  // Errors, dates and buffers keep their own serialization; only plain objects are walked.
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      credentialKey.test(key) || (signatureKey.test(key) && typeof inner === 'string') ? CENSOR : censorCredentials(inner, depth + 1),
    ]),
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** JSON lines to stdout, or to `destination` (tests read what would have been written). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { level, formatters: { log: (object) => censorCredentials(object) as Record<string, unknown> }, base: { service: 'herald' } },
    destination,
  );
}
