import type { Queryable } from './db.ts';

/** The windows GET /v1/endpoints/:id/stats offers, by name. */
export const statsWindows = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 } as const;
export type StatsWindow = keyof typeof statsWindows;

export interface EndpointStats {
  window: StatsWindow;
  since: string;
  attempts: number;
  delivered: number;
  failed: number;
  /** delivered / attempts; null without attempts. */
  successRate: number | null;
  /** Attempt durations in milliseconds; null without attempts. */
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
}

/** An endpoint's attempts in the window, from the attempt log: what was tried, what got a 2xx, and how long each took. */
export async function endpointStats(db: Queryable, endpointId: string, window: StatsWindow, now = Date.now()): Promise<EndpointStats> {
  const since = new Date(now - statsWindows[window]).toISOString();
  const [row] = await db.query<{ attempts: number; delivered: number; p50: number | null; p95: number | null; p99: number | null }>(
    `SELECT count(*)::integer AS attempts,
       (count(*) FILTER (WHERE a.status_code BETWEEN 200 AND 299))::integer AS delivered,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY a.duration_ms) AS p95,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY a.duration_ms) AS p99
     FROM deliveries d JOIN delivery_attempts a ON a.delivery_id = d.id
     WHERE d.endpoint_id = $1 AND a.started_at >= $2`,
    [endpointId, since],
  );
  const attempts = row?.attempts ?? 0;
  const delivered = row?.delivered ?? 0;
  const round = (value: number | null | undefined) => (value === null || value === undefined ? null : Math.round(value));
  return {
    window, since, attempts, delivered, failed: attempts - delivered,
    successRate: attempts ? delivered / attempts : null,
    latencyMs: { p50: round(row?.p50), p95: round(row?.p95), p99: round(row?.p99) },
  };
}
