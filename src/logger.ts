import { type DestinationStream, pino, type Logger } from 'pino';

export type { Logger };

/** Paths that may carry credentials; pino replaces them before anything is written. */
const redact = [
  'secret',
  '*.secret',
  'secrets',
  '*.secrets',
  'apiKey',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'headers["webhook-signature"]',
  'headers["x-webhook-secret"]',
];

/** JSON lines to stdout, or to `destination` (tests read what was logged). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: redact, censor: '[redacted]' }, base: { service: 'herald' } }, destination);
}
