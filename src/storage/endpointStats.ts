import type { Queryable } from './db.ts';

/** The windows GET /v1/endpoints/:id/stats offers, by name. */
export const statsWindows = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 } as const;
export type StatsWindow = keyof typeof statsWindows;

/** How each window is cut into buckets for its series: 60 of 1 min, 48 of 30 min, 56 of 3 h. */
const bucketMsOf: Record<StatsWindow, number> = { '1h': 60_000, '24h': 1_800_000, '7d': 10_800_000 };

/** What happened in a stretch of time: the attempts, the 2xx among them, the rest, and how long they took. */
export interface AttemptCounts {
  attempts: number;
  delivered: number;
  failed: number;
  /** Attempt durations in milliseconds; null without attempts. */
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
}

export interface EndpointStats extends AttemptCounts {
  window: StatsWindow;
  since: string;
  /** delivered / attempts; null without attempts. */
  successRate: number | null;
  /** With `series`: the window cut into buckets of `bucketMs`, oldest first, each starting `at` (empty ones included). */
  bucketMs?: number;
  series?: (AttemptCounts & { at: string })[];
}

interface CountsRow { bucket: number | null; attempts: number; delivered: number; p50: number | null; p95: number | null; p99: number | null }

const round = (value: number | null | undefined) => (value === null || value === undefined ? null : Math.round(value));
const counts = (row: CountsRow | undefined): AttemptCounts => {
  const attempts = row?.attempts ?? 0;
  const delivered = row?.delivered ?? 0;
  return { attempts, delivered, failed: attempts - delivered, latencyMs: { p50: round(row?.p50), p95: round(row?.p95), p99: round(row?.p99) } };
};

/**
 * An endpoint's attempts in the window, from the attempt log: what was tried, what got a 2xx, and how long each
 * took; with `series`, also per bucket. One scan of the endpoint's attempts in the window either way: the totals
 * and the buckets are grouping sets of one query.
 */
export async function endpointStats(db: Queryable, endpointId: string, window: StatsWindow, options: { series?: boolean; now?: number } = {}): Promise<EndpointStats> {
  const now = options.now ?? Date.now();
  const sinceMs = now - statsWindows[window];
  const bucketMs = bucketMsOf[window];
  const buckets = statsWindows[window] / bucketMs;
  const rows = await db.query<CountsRow>(
    `SELECT ${options.series ? 'bucket' : 'NULL AS bucket'}, count(*)::integer AS attempts,
       (count(*) FILTER (WHERE status_code BETWEEN 200 AND 299))::integer AS delivered,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99
     FROM (SELECT a.status_code, a.duration_ms,
             -- an attempt ahead of the clock (a time-skipping test server) counts in the last bucket
             LEAST(floor((extract(epoch FROM a.started_at) * 1000 - $3) / $4)::integer, $5 - 1) AS bucket
           FROM deliveries d JOIN delivery_attempts a ON a.delivery_id = d.id
           WHERE d.endpoint_id = $1 AND a.started_at >= $2) AS attempts
     GROUP BY ${options.series ? 'GROUPING SETS ((bucket), ())' : '()'}`,
    [endpointId, new Date(sinceMs).toISOString(), sinceMs, bucketMs, buckets],
  );
  const total = counts(rows.find((row) => row.bucket === null));
  const stats: EndpointStats = {
    window, since: new Date(sinceMs).toISOString(), ...total, successRate: total.attempts ? total.delivered / total.attempts : null,
  };
  if (!options.series) return stats;
  const byBucket = new Map(rows.filter((row) => row.bucket !== null).map((row) => [row.bucket, row]));
  const series = Array.from({ length: buckets }, (_, i) => ({ at: new Date(sinceMs + i * bucketMs).toISOString(), ...counts(byBucket.get(i)) }));
  return { ...stats, bucketMs, series };
}
