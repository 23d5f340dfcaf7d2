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
