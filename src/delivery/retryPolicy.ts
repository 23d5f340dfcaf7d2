import { z } from 'zod';
import type { RetrySchedule } from '../../workflows/retrySchedule.ts';
import { duration } from '../duration.ts';

/** Named schedules: Svix's for `standard`, the order form's for `make`. */
const presets = {
  standard: { delays: ['5s', '5m', '30m', '2h', '5h', '10h', '10h'], timeoutMs: undefined },
  make: { delays: ['1s', '2s'], timeoutMs: 5000 },
  none: { delays: [], timeoutMs: undefined },
} as const;

const jitter = z.number().min(0).max(1).default(0);

export const retryPolicySchema = z.union([
  z.enum(['standard', 'make', 'none']),
  z.strictObject({
    schedule: z.array(duration).min(1).max(50),
    jitter,
  }),
  z.strictObject({
    initialInterval: duration,
    backoffCoefficient: z.number().min(1).max(100).default(2),
    maximumInterval: duration.optional(),
    maximumAttempts: z.number().int().min(1).max(100),
    jitter,
  }),
], { error: 'a preset ("standard", "make", "none"), { "schedule": [delays] } or { "initialInterval", "backoffCoefficient", "maximumInterval", "maximumAttempts" }' });

export type RetryPolicy = z.input<typeof retryPolicySchema>;

/** Turns a declared policy into what the workflow runs; also the timeout a preset implies. */
export function compileRetryPolicy(declared: RetryPolicy): { schedule: RetrySchedule; presetTimeoutMs?: number } {
  const policy = retryPolicySchema.parse(declared);
  if (typeof policy === 'string') {
    const preset = presets[policy];
    return {
      schedule: { kind: 'schedule', delaysMs: preset.delays.map((d) => duration.parse(d)), jitter: 0 },
      presetTimeoutMs: preset.timeoutMs,
    };
  }
  if ('schedule' in policy) return { schedule: { kind: 'schedule', delaysMs: policy.schedule, jitter: policy.jitter } };
  return {
    schedule: {
      kind: 'exponential',
      initialMs: policy.initialInterval,
      coefficient: policy.backoffCoefficient,
      maxMs: policy.maximumInterval ?? policy.initialInterval * policy.backoffCoefficient ** (policy.maximumAttempts - 1),
      maxAttempts: policy.maximumAttempts,
      jitter: policy.jitter,
    },
  };
}

/** The part of the tenant quotas (src/quotas.ts) a retry policy answers to. */
export interface RetryLimits {
  minRetryDelayMs: number;
  maxAttempts: number;
  maxRetryScheduleMs: number;
}

/** 1000 → "1s", 604800000 → "7d": the largest unit that divides it, as durations are written. */
function written(ms: number): string {
  const units: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  const [unit, size] = units.find(([, size]) => ms % size === 0) ?? ['ms', 1];
  return `${ms / size}${unit}`;
}

/**
 * Where a declared policy exceeds the limits, by field (`retryPolicy.schedule.0`, …); none when
 * it fits. The schedule's length is the sum of its waits before jitter (a receiver's Retry-After
 * can still raise each wait up to the largest).
 */
export function retryLimitRefusals(declared: RetryPolicy, limits: RetryLimits): { field: string; message: string }[] {
  const { schedule } = compileRetryPolicy(declared);
  const delays = schedule.kind === 'schedule'
    ? schedule.delaysMs
    : Array.from({ length: schedule.maxAttempts - 1 }, (_, i) => Math.min(schedule.initialMs * schedule.coefficient ** i, schedule.maxMs));
  const refusals: { field: string; message: string }[] = [];
  const tooShort = `at least ${written(limits.minRetryDelayMs)} (HERALD_MIN_RETRY_DELAY)`;
  if (schedule.kind === 'schedule') {
    schedule.delaysMs.forEach((ms, i) => {
      if (ms < limits.minRetryDelayMs) refusals.push({ field: `retryPolicy.schedule.${i}`, message: tooShort });
    });
  } else if (schedule.initialMs < limits.minRetryDelayMs) {
    refusals.push({ field: 'retryPolicy.initialInterval', message: tooShort });
  }
  const attemptsField = schedule.kind === 'schedule' ? 'retryPolicy.schedule' : 'retryPolicy.maximumAttempts';
  if (delays.length + 1 > limits.maxAttempts) {
    refusals.push({ field: attemptsField, message: `at most ${limits.maxAttempts} attempts (HERALD_MAX_ATTEMPTS); this policy makes ${delays.length + 1}` });
  }
  const totalMs = delays.reduce((sum, ms) => sum + ms, 0);
  if (totalMs > limits.maxRetryScheduleMs) {
    refusals.push({ field: attemptsField, message: `its waits add up to ${written(totalMs)}, more than ${written(limits.maxRetryScheduleMs)} (HERALD_MAX_RETRY_SCHEDULE)` });
  }
  return refusals;
}

/**
 * Wait before attempt `attemptsMade + 1`, or undefined when the budget is spent.
 * A receiver's Retry-After raises the wait, capped at the policy's largest delay. Pure: the
 * delivery activity passes Math.random for the jitter, tests a fixed sequence.
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
