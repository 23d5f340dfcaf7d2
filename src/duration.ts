import { z } from 'zod';

const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "500ms", "5s", "30m", "2h", "7d" → milliseconds. */
export const duration = z
  .string()
  .regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, 'a duration such as "500ms", "5s", "30m", "2h" or "7d"')
  .transform((text) => {
    const [, amount, unit] = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text)!;
    return Math.round(Number(amount) * units[unit as keyof typeof units]);
  });
