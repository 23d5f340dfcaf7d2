/**
 * The normalized retry policy a delivery workflow carries, and the one function
 * that turns it into the wait before the next attempt. Pure and deterministic:
 * `random` is the workflow's seeded Math.random.
 */
export type RetrySchedule =
  | { kind: 'schedule'; delaysMs: number[]; jitter: number }
  | { kind: 'exponential'; initialMs: number; coefficient: number; maxMs: number; maxAttempts: number; jitter: number };

/**
 * Wait before attempt `attemptsMade + 1`, or undefined when the budget is spent.
 * A receiver's Retry-After raises the wait, capped at the policy's largest delay.
 */
export function delayBeforeNextAttempt(
  policy: RetrySchedule,
  attemptsMade: number,
  retryAfterMs: number | undefined,
  random: () => number,
): number | undefined {
  let base: number | undefined;
  let cap: number;
  if (policy.kind === 'schedule') {
    base = policy.delaysMs[attemptsMade - 1];
    cap = Math.max(0, ...policy.delaysMs);
  } else {
    base = attemptsMade < policy.maxAttempts
      ? Math.min(policy.initialMs * policy.coefficient ** (attemptsMade - 1), policy.maxMs)
      : undefined;
    cap = policy.maxMs;
  }
  if (base === undefined) return undefined;
  const jittered = Math.round(base * (1 + policy.jitter * (2 * random() - 1)));
  return Math.max(jittered, Math.min(retryAfterMs ?? 0, cap));
}
