import type { Db, Queryable } from './db.ts';
import { Statement, type StatementPart } from './statement.ts';

/**
 * Traffic state in Herald's database, each change one atomic statement, so it holds across every
 * worker process on PostgreSQL: one row per endpoint (`endpoint_traffic`: the token bucket and the
 * slow-down, which concern the receiver's capacity) and one per circuit (`endpoint_circuits`).
 * The endpoint's health (its failure streak and last success and failure) is in its `endpoints` row.
 * What the state means is decided in src/endpoints/trafficControl.ts. An attempt's outcome is
 * written with the attempt's own record (the delivery log's part) in one statement, or one
 * transaction when it counts a failure.
 */

/** The endpoint's traffic row (if any), the delivery's circuit (if any), and the attempts the delivery has made. */
export interface AdmissionRow {
  has_traffic: boolean;
  slowed_until: Date | string | null;
  slowed_by: string | null;
  open_until: Date | string | null;
  cooldown_ms: string | number | null;
  probe_started_at: Date | string | null;
  /** Attempts made over the delivery's life, and in its current budget (a replay starts a new one). */
  attempts_made: number;
  attempts_in_budget: number;
}

/** A failure counted on a circuit: whether it opened now (null: unchanged), its cool-down, since when it has been failing; when it disabled the endpoint, since when. */
export interface FailureCount {
  opened: boolean | null;
  cooldown_ms: string | null;
  failing_since: Date | string;
  disabledSince?: Date | string;
}

/** A delivery in a FIFO endpoint's line. */
export interface QueuedDelivery {
  id: string;
  tenant: string;
  event_id: string;
}

export interface CircuitLimits {
  circuitFailures: number;
  circuitCooldownMs: number;
  maxCircuitCooldownMs: number;
}

/** The endpoint's health columns and its open circuits. */
export interface HealthRows {
  endpoint: { consecutive_failures: number; last_success_at: Date | string | null; last_failure_at: Date | string | null } | undefined;
  open: { tenant: string; open_until: Date | string }[];
}

const iso = (at: number) => new Date(at).toISOString();

export class TrafficStore {
  constructor(private readonly db: Db) {}

  /**
   * Read before an attempt, in one statement: what traffic control decides on, and the delivery's
   * attempts so far (which number the next one and place it in its retry schedule).
   */
  async admissionRow(endpointId: string, circuit: string, delivery: { id: string; budget: string }): Promise<AdmissionRow> {
    const [row] = await this.db.query<AdmissionRow>(
      `SELECT t.endpoint_id IS NOT NULL AS has_traffic, t.slowed_until, t.slowed_by, c.open_until, c.cooldown_ms, c.probe_started_at, a.attempts_made, a.attempts_in_budget
       FROM (SELECT $1::text AS id) AS e LEFT JOIN endpoint_traffic t ON t.endpoint_id = e.id
         LEFT JOIN endpoint_circuits c ON c.endpoint_id = e.id AND c.tenant = $2
         CROSS JOIN (SELECT COALESCE(MAX(attempt), 0)::integer AS attempts_made, (COUNT(*) FILTER (WHERE budget = $4))::integer AS attempts_in_budget
           FROM delivery_attempts WHERE delivery_id = $3) AS a`,
      [endpointId, circuit, delivery.id, delivery.budget],
    );
    return row!;
  }

  /** Claims the probe of a circuit whose cool-down is over, unless another claim is younger than `probeDeadlineMs`. */
  async claimProbe(endpointId: string, circuit: string, now: number, probeDeadlineMs: number): Promise<boolean> {
    const claimed = await this.db.query(
      `UPDATE endpoint_circuits SET probe_started_at = $3 WHERE endpoint_id = $1 AND tenant = $2 AND open_until <= $3
         AND (probe_started_at IS NULL OR probe_started_at <= $4) RETURNING 1`,
      [endpointId, circuit, iso(now), iso(now - probeDeadlineMs)],
    );
    return claimed.length > 0;
  }

  /**
   * The delivery at the head of a FIFO endpoint's line: the earliest accepted that is not settled
   * (with `failedBlocks`, a dead letter is not settled until replayed or cancelled).
   */
  async firstInLine(endpointId: string, failedBlocks: boolean): Promise<QueuedDelivery | undefined> {
    const [head] = await this.db.query<QueuedDelivery>(
      `SELECT id, tenant, event_id FROM deliveries WHERE endpoint_id = $1 AND (status IN ('pending', 'retrying') OR (status = 'failed' AND $2))
       ORDER BY accepted_seq LIMIT 1`,
      [endpointId, failedBlocks],
    );
    return head;
  }

  /**
   * Takes one token from the endpoint's bucket in one statement (concurrent takers queue on the
   * row, and each sees the bucket as the one before left it); when empty, the tokens available now.
   */
  async takeToken(endpointId: string, limit: { perSecond: number; burst: number }, now: number, newRow: boolean): Promise<{ taken: true } | { taken: false; available: number }> {
    if (newRow) {
      await this.db.query('INSERT INTO endpoint_traffic (endpoint_id) VALUES ($1) ON CONFLICT (endpoint_id) DO NOTHING', [endpointId]);
    }
    // Tokens now: what was left, refilled for the time since, at most the burst. Clocks of different workers may
    // disagree a little: time never runs backwards for the bucket.
    const available = `LEAST($3::double precision, COALESCE(tokens, $3) + $4::double precision *
      GREATEST(0, EXTRACT(EPOCH FROM ($2::timestamptz - COALESCE(refilled_at, $2::timestamptz)))))`;
    const taken = await this.db.query(
      `UPDATE endpoint_traffic SET tokens = ${available} - 1, refilled_at = GREATEST(COALESCE(refilled_at, $2::timestamptz), $2::timestamptz)
       WHERE endpoint_id = $1 AND ${available} >= 1 RETURNING 1`,
      [endpointId, iso(now), limit.burst, limit.perSecond],
    );
    if (taken.length) return { taken: true };
    const [row] = await this.db.query<{ available: number }>(`SELECT ${available} AS available FROM endpoint_traffic WHERE endpoint_id = $1`,
      [endpointId, iso(now), limit.burst, limit.perSecond]);
    return { taken: false, available: row?.available ?? 0 };
  }

  /** The endpoint's health after an attempt that tells about its receiver. */
  healthPart(endpointId: string, succeeded: boolean, at: number): StatementPart {
    return (s) => {
      const [id, ok, when] = [s.param(endpointId), s.param(succeeded), s.param(iso(at))];
      s.with('health', `UPDATE endpoints SET
        last_success_at = CASE WHEN ${ok}::boolean THEN ${when}::timestamptz ELSE last_success_at END,
        last_failure_at = CASE WHEN ${ok}::boolean THEN last_failure_at ELSE ${when}::timestamptz END,
        consecutive_failures = CASE WHEN ${ok}::boolean THEN 0 ELSE consecutive_failures + 1 END
        WHERE id = ${id}`);
    };
  }

  /** Every delivery to the endpoint waits until `until`, unless it already waits longer; `by` is the delivery that was told. */
  slowDownPart(endpointId: string, until: number, by: string): StatementPart {
    return (s) => s.with('slow_down', `INSERT INTO endpoint_traffic (endpoint_id, slowed_until, slowed_by) VALUES (${s.param(endpointId)}, ${s.param(iso(until))}, ${s.param(by)})
      ON CONFLICT (endpoint_id) DO UPDATE SET slowed_until = GREATEST(endpoint_traffic.slowed_until, EXCLUDED.slowed_until),
        slowed_by = CASE WHEN endpoint_traffic.slowed_until > EXCLUDED.slowed_until THEN endpoint_traffic.slowed_by ELSE EXCLUDED.slowed_by END`);
  }

  /** Writes `parts` in one statement. */
  async write(parts: StatementPart[]): Promise<void> {
    const s = new Statement();
    for (const part of parts) part(s);
    await this.db.query(s.sql(), s.params);
  }

  /**
   * Writes `parts` and, in the same statement, resets a circuit that was failing (locking only such a row), and creates
   * a closed one if there was none: on an all-tenant endpoint, a row with no failure tells that this tenant's deliveries
   * succeed. True when it was open.
   */
  async closeCircuitWith(parts: StatementPart[], endpointId: string, tenant: string): Promise<boolean> {
    const s = new Statement();
    for (const part of parts) part(s);
    const [id, circuit] = [s.param(endpointId), s.param(tenant)];
    s.with('circuit_before', `SELECT open_until FROM endpoint_circuits WHERE endpoint_id = ${id} AND tenant = ${circuit}
        AND (consecutive_failures > 0 OR open_until IS NOT NULL OR failing_since IS NOT NULL) FOR UPDATE`)
      .with('circuit_reset', `UPDATE endpoint_circuits c SET consecutive_failures = 0, open_until = NULL, cooldown_ms = NULL, probe_started_at = NULL, failing_since = NULL
        FROM circuit_before WHERE c.endpoint_id = ${id} AND c.tenant = ${circuit} RETURNING circuit_before.open_until IS NOT NULL AS was_open`)
      .with('circuit_created', `INSERT INTO endpoint_circuits (endpoint_id, tenant) VALUES (${id}, ${circuit}) ON CONFLICT (endpoint_id, tenant) DO NOTHING`);
    const [closed] = await this.db.query<{ was_open: boolean }>(s.sql('SELECT was_open FROM circuit_reset'), s.params);
    return closed?.was_open ?? false;
  }

  /**
   * Writes `parts` and counts a failure on the circuit, in one transaction: opens a closed circuit at the threshold;
   * a failed probe reopens it for twice as long. Then, if the circuit has been failing since `disableIfFailingSince`
   * or earlier, disables the endpoint when every one of its circuits has been failing since then.
   */
  async countFailureWith(parts: StatementPart[], endpointId: string, tenant: string, at: number, limits: CircuitLimits, disableIfFailingSince?: number):
    Promise<FailureCount | undefined> {
    return this.db.transaction(async (tx: Queryable) => {
      const s = new Statement();
      for (const part of parts) part(s);
      await tx.query(
        s.sql(`INSERT INTO endpoint_circuits (endpoint_id, tenant, consecutive_failures, failing_since) VALUES (${s.param(endpointId)}, ${s.param(tenant)}, 1, ${s.param(iso(at))})
          ON CONFLICT (endpoint_id, tenant) DO UPDATE SET consecutive_failures = endpoint_circuits.consecutive_failures + 1,
            failing_since = COALESCE(endpoint_circuits.failing_since, EXCLUDED.failing_since)`),
        s.params,
      );
      const cooldown = `CASE WHEN before.open_until IS NULL THEN $5::bigint ELSE LEAST(c.cooldown_ms * 2, $6::bigint) END`;
      const [state] = await tx.query<FailureCount>(
        `WITH before AS (SELECT open_until, probe_started_at FROM endpoint_circuits WHERE endpoint_id = $1 AND tenant = $2 FOR UPDATE),
         changed AS (
           UPDATE endpoint_circuits c SET cooldown_ms = ${cooldown},
             open_until = $3::timestamptz + (${cooldown}) * interval '1 millisecond', probe_started_at = NULL
           FROM before
           WHERE c.endpoint_id = $1 AND c.tenant = $2
             AND ((before.open_until IS NULL AND c.consecutive_failures >= $4) OR before.probe_started_at IS NOT NULL)
           RETURNING before.open_until IS NULL AS opened, c.cooldown_ms
         )
         SELECT changed.opened, changed.cooldown_ms, c.failing_since FROM endpoint_circuits c LEFT JOIN changed ON true WHERE c.endpoint_id = $1 AND c.tenant = $2`,
        [endpointId, tenant, iso(at), limits.circuitFailures, limits.circuitCooldownMs, limits.maxCircuitCooldownMs],
      );
      if (!state || disableIfFailingSince === undefined || new Date(state.failing_since).getTime() > disableIfFailingSince) return state;
      const [disabled] = await tx.query<{ failing_since: Date | string }>(
        `WITH circuits AS (SELECT bool_and(failing_since IS NOT NULL) AS all_failing, max(failing_since) AS failing_since FROM endpoint_circuits WHERE endpoint_id = $1)
         UPDATE endpoints SET enabled = false, updated_at = now() FROM circuits
         WHERE id = $1 AND enabled AND circuits.all_failing AND circuits.failing_since <= $2 RETURNING circuits.failing_since`,
        [endpointId, iso(disableIfFailingSince)],
      );
      return { ...state, ...(disabled && { disabledSince: disabled.failing_since }) };
    });
  }

  async healthRows(endpointId: string): Promise<HealthRows> {
    const [[endpoint], open] = await Promise.all([
      this.db.query<NonNullable<HealthRows['endpoint']>>(
        'SELECT consecutive_failures, last_success_at, last_failure_at FROM endpoints WHERE id = $1', [endpointId],
      ),
      this.db.query<HealthRows['open'][number]>(
        'SELECT tenant, open_until FROM endpoint_circuits WHERE endpoint_id = $1 AND open_until IS NOT NULL ORDER BY open_until, tenant', [endpointId],
      ),
    ]);
    return { endpoint, open };
  }

  /** Forgets the endpoint's traffic state: circuits closed, failure streaks and slow-downs gone. */
  async reset(endpointId: string): Promise<void> {
    await this.db.query('DELETE FROM endpoint_traffic WHERE endpoint_id = $1', [endpointId]);
    await this.db.query('DELETE FROM endpoint_circuits WHERE endpoint_id = $1', [endpointId]);
  }
}
