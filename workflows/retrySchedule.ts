/**
 * The normalized retry policy a delivery workflow carries (compiled from an endpoint's declared
 * policy by src/delivery/retryPolicy.ts, which also turns it into the wait before the next attempt),
 * and the time limit it gives a delivery's activity.
 */
export type RetrySchedule =
  | { kind: 'schedule'; delaysMs: number[]; jitter: number }
  | { kind: 'exponential'; initialMs: number; coefficient: number; maxMs: number; maxAttempts: number; jitter: number };

/**
 * Time for holds by traffic control (rate limit, 429 slow-down, open circuit), which are activity
 * retries too but spend no attempt: longer than the default auto-disable (5 days), after which a
 * failing endpoint's deliveries fail for good rather than being held.
 */
const HOLDS_ALLOWANCE_MS = 7 * 86_400_000;

/**
 * The schedule-to-close timeout of a delivery's activity, which bounds its Temporal retries: every
 * attempt of the policy running for `attemptMs` (its start-to-close timeout), every wait as long as
 * the policy allows any (a Retry-After may raise a wait to the largest delay), plus the allowance for holds.
 */
export function deliveryTimeLimitMs(policy: RetrySchedule, attemptMs: number): number {
  const attempts = policy.kind === 'schedule' ? policy.delaysMs.length + 1 : policy.maxAttempts;
  const largestWaitMs = (policy.kind === 'schedule' ? Math.max(0, ...policy.delaysMs) : policy.maxMs) * (1 + policy.jitter);
  return attempts * attemptMs + (attempts - 1) * Math.ceil(largestWaitMs) + HOLDS_ALLOWANCE_MS;
}
