import crypto from 'node:crypto';

/** How one attempt's answer counts: delivered, worth another attempt, or final. */
export type Verdict = 'delivered' | 'retry' | 'failed';

/** 2xx delivered; 408, 429 and 5xx worth retrying; any other answer (redirects included) final. */
export function classifyStatus(status: number): Verdict {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'failed';
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The `webhook-id`: the same for every attempt and replay of one event, different across events. */
export function messageIdFor(tenant: string, eventId: string): string {
  return `msg_${crypto.createHash('sha256').update(`${tenant}\0${eventId}`).digest('base64url').slice(0, 27)}`;
}
