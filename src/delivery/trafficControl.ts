import { duration } from '../duration.ts';
import type { Logger } from '../logger.ts';
import type { Db, Queryable } from '../storage/db.ts';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import type { HeraldTemporal } from '../temporal/heraldTemporal.ts';
import type { Endpoint, EndpointStore } from '../storage/endpoints.ts';
import { OperationalEvents, type OperationalEventType, RESERVED_PREFIX } from './operationalEvents.ts';

/**
 * Per-endpoint traffic control: rate limits, the slow-down after a 429, circuit breaking and
 * auto-disable. Its state is one row per endpoint in Herald's database (`endpoint_traffic`),
 * changed by single atomic statements, so it holds across every worker process on PostgreSQL.
 *
 * Before each attempt the delivery asks `admit`; a hold is not an attempt: the delivery writes
 * no attempt row (so spends no budget) and asks Temporal to run it again after the wait, holding
 * no worker slot meanwhile. After each attempt it reports the outcome to `recordOutcome`.
 */

export interface TrafficSettings {
  /** Consecutive failed attempts that open an endpoint's circuit. */
  circuitFailures: number;
  /** The first cool-down of an open circuit; it doubles each time a probe fails, up to the maximum. */
  circuitCooldownMs: number;
  maxCircuitCooldownMs: number;
  /** Continuous failure before an endpoint is disabled, for endpoints that set none; null: never. */
  disableAfterMs: number | null;
}

export const defaultTrafficSettings: TrafficSettings = {
  circuitFailures: 10,
  circuitCooldownMs: 60_000,
  maxCircuitCooldownMs: 3_600_000,
  disableAfterMs: 5 * 86_400_000,
};

export type HoldReason = 'rate-limited' | 'slowed-down' | 'circuit-open' | 'probe-out' | 'not-first-in-line';
export type Admission = { send: true; probe: boolean } | { send: false; reason: HoldReason; waitMs: number };

export type HealthState = 'healthy' | 'degraded' | 'open' | 'disabled';
export interface Health {
  state: HealthState;
  consecutiveFailures: number;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  /** While open: when the next probe may go out. */
  circuitOpenUntil?: string;
}

/** What one attempt's outcome tells traffic control. */
export interface AttemptOutcome {
  deliveryId: string;
  eventId: string;
  attempt: number;
  /** The delivery's state after the attempt: `failed` is a dead letter. */
  status: 'delivered' | 'retrying' | 'failed';
  statusCode: number | null;
  error: string | null;
  /** The attempt's own time (workflow time under a time-skipping test server). */
  at: number;
  /** The wait the delivery's policy chose before its next attempt (Retry-After honoured); undefined when none follows. */
  waitMs?: number;
  /** The event type it carried: attempts at Herald's own events never raise operational events. */
  eventType: string;
}

/** Time a probe may take beyond the endpoint's timeout before another delivery may probe instead. */
const PROBE_SLACK_MS = 10_000;
/** Held deliveries come back spread over this many of the limit's intervals, not all in the same instant. */
const RATE_SPREAD_INTERVALS = 4;
/**
 * A FIFO delivery behind another waits this long at most: the one ahead gives it its `turn` (a signal)
 * when it settles or is cancelled; this is the fallback should that signal be lost.
 */
const FIFO_RECHECK_MS = 30_000;
/** A hold is at least this long: Temporal's retry timer has second-ish precision anyway. */
const MIN_HOLD_MS = 100;

interface TrafficRow {
  tokens: number | null;
  refilled_at: Date | string | null;
  slowed_until: Date | string | null;
  slowed_by: string | null;
  circuit_open_until: Date | string | null;
  circuit_cooldown_ms: string | number | null;
  probe_started_at: Date | string | null;
}

const ms = (value: Date | string) => new Date(value).getTime();
const iso = (at: number) => new Date(at).toISOString();
const disableAfterMsOf = (endpoint: Endpoint, fallback: number | null) =>
  endpoint.disableAfter === undefined ? fallback : endpoint.disableAfter === null ? null : duration.parse(endpoint.disableAfter);

/** Traffic control for a worker: its state in `db`, operational events raised through `temporal`. */
export function createTrafficControl(deps: {
  db: Db; endpoints: EndpointStore; log: DeliveryLog; temporal: Pick<HeraldTemporal, 'ingest' | 'signal'>; logger: Logger; settings: TrafficSettings;
}): TrafficControl {
  const events = new OperationalEvents(deps);
  return new TrafficControl(deps.db, deps.endpoints, { settings: deps.settings, logger: deps.logger, events, temporal: deps.temporal });
}

export class TrafficControl {
  constructor(
    private readonly db: Db,
    private readonly endpoints: EndpointStore,
    private readonly deps: { settings: TrafficSettings; logger: Logger; events?: OperationalEvents; temporal?: Pick<HeraldTemporal, 'signal'> },
  ) {}

  /** Whether an attempt may go out now, and if not, how long to hold it. */
  async admit(endpointId: string, deliveryId: string, now: number): Promise<Admission> {
    const endpoint = await this.endpoints.cachedById(endpointId);
    // Deleted or disabled: the attempt goes on and fails for good, so the delivery parks with that reason.
    if (!endpoint?.enabled) return { send: true, probe: false };
    const [row] = await this.db.query<TrafficRow>('SELECT * FROM endpoint_traffic WHERE endpoint_id = $1', [endpointId]);
    if (!row && !endpoint.rateLimit && endpoint.ordering !== 'fifo') return { send: true, probe: false };

    if (row?.slowed_until && ms(row.slowed_until) > now && row.slowed_by !== deliveryId) return { send: false, reason: 'slowed-down', waitMs: ms(row.slowed_until) - now };
    const openUntil = row?.circuit_open_until ? ms(row.circuit_open_until) : undefined;
    if (openUntil !== undefined && openUntil > now) {
      // Spread over a tenth of the cool-down: the held deliveries do not all return at the probe's instant.
      const spread = Number(row!.circuit_cooldown_ms ?? 0) / 10;
      return { send: false, reason: 'circuit-open', waitMs: openUntil - now + Math.random() * spread };
    }
    const probeDeadline = endpoint.timeoutMs + PROBE_SLACK_MS;
    if (openUntil !== undefined && row!.probe_started_at && ms(row!.probe_started_at) + probeDeadline > now) {
      return { send: false, reason: 'probe-out', waitMs: ms(row!.probe_started_at) + probeDeadline - now };
    }

    if (endpoint.ordering === 'fifo' && (await this.firstInLine(endpoint))?.id !== deliveryId) {
      return { send: false, reason: 'not-first-in-line', waitMs: FIFO_RECHECK_MS };
    }
    if (endpoint.rateLimit) {
      const waitMs = await this.takeToken(endpointId, endpoint.rateLimit, now, !row);
      if (waitMs !== undefined) return { send: false, reason: 'rate-limited', waitMs };
    }
    if (openUntil === undefined) return { send: true, probe: false };
    // The cool-down is over: one delivery claims the probe, the others wait for its answer.
    const claimed = await this.db.query(
      `UPDATE endpoint_traffic SET probe_started_at = $2 WHERE endpoint_id = $1 AND circuit_open_until <= $2
         AND (probe_started_at IS NULL OR probe_started_at <= $3) RETURNING 1`,
      [endpointId, iso(now), iso(now - probeDeadline)],
    );
    return claimed.length ? { send: true, probe: true } : { send: false, reason: 'probe-out', waitMs: probeDeadline };
  }

  /**
   * The delivery at the head of a FIFO endpoint's line: the earliest accepted that is not settled
   * (with `block`, a dead letter is not settled until replayed or cancelled).
   */
  private async firstInLine(endpoint: Endpoint): Promise<{ id: string; tenant: string; event_id: string } | undefined> {
    const [head] = await this.db.query<{ id: string; tenant: string; event_id: string }>(
      `SELECT id, tenant, event_id FROM deliveries WHERE endpoint_id = $1 AND (status IN ('pending', 'retrying') OR (status = 'failed' AND $2))
       ORDER BY accepted_seq LIMIT 1`,
      [endpoint.id, endpoint.onFailure === 'block'],
    );
    return head;
  }

  /** A FIFO delivery settled or was cancelled: the next in line goes now rather than at its next recheck. */
  async wakeNextInLine(endpointId: string, settled: string): Promise<void> {
    const endpoint = await this.endpoints.cachedById(endpointId);
    if (endpoint?.ordering !== 'fifo' || !this.deps.temporal) return;
    const next = await this.firstInLine(endpoint);
    // A dead letter that blocks the line is still its head: nothing to wake.
    if (!next || next.id === settled) return;
    await this.deps.temporal.signal(next.tenant, next.event_id, 'turn', { endpointId }).catch((err: unknown) => {
      this.deps.logger.warn({ err, endpointId, deliveryId: next.id }, 'could not wake the next FIFO delivery; it goes at its recheck');
    });
  }

  /**
   * Takes one token from the endpoint's bucket in one statement (concurrent takers queue on the
   * row, and each sees the bucket as the one before left it); the wait for the next token when empty.
   */
  private async takeToken(endpointId: string, limit: { perSecond: number; burst: number }, now: number, newRow: boolean): Promise<number | undefined> {
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
    if (taken.length) return undefined;
    const [row] = await this.db.query<{ available: number }>(`SELECT ${available} AS available FROM endpoint_traffic WHERE endpoint_id = $1`,
      [endpointId, iso(now), limit.burst, limit.perSecond]);
    const intervalMs = 1000 / limit.perSecond;
    const deficitMs = (1 - Math.min(1, row?.available ?? 0)) * intervalMs;
    return Math.max(MIN_HOLD_MS, deficitMs + Math.random() * intervalMs * RATE_SPREAD_INTERVALS);
  }

  /** After an attempt (its row already written, so the endpoint's consecutive failures count it). */
  async recordOutcome(endpointId: string, outcome: AttemptOutcome): Promise<void> {
    const at = iso(outcome.at);
    if (outcome.statusCode === 429 && outcome.waitMs !== undefined) {
      // The receiver asked for less: every other delivery to it waits as long as this one does (its own schedule).
      await this.db.query(
        `INSERT INTO endpoint_traffic (endpoint_id, slowed_until, slowed_by) VALUES ($1, $2, $3) ON CONFLICT (endpoint_id)
         DO UPDATE SET slowed_until = GREATEST(endpoint_traffic.slowed_until, EXCLUDED.slowed_until),
           slowed_by = CASE WHEN endpoint_traffic.slowed_until > EXCLUDED.slowed_until THEN endpoint_traffic.slowed_by ELSE EXCLUDED.slowed_by END`,
        [endpointId, iso(outcome.at + outcome.waitMs), outcome.deliveryId],
      );
    }
    if (outcome.status === 'failed') {
      await this.raise('herald.delivery.failed', endpointId, outcome, `${outcome.deliveryId}|${outcome.attempt}`, {
        deliveryId: outcome.deliveryId, eventId: outcome.eventId, eventType: outcome.eventType, attempt: outcome.attempt,
        statusCode: outcome.statusCode, error: outcome.error,
      });
    }
    if (outcome.status !== 'retrying') await this.wakeNextInLine(endpointId, outcome.deliveryId);
    if (outcome.status === 'delivered') {
      const [closed] = await this.db.query<{ was_open: boolean }>(
        `WITH before AS (SELECT circuit_open_until FROM endpoint_traffic WHERE endpoint_id = $1 FOR UPDATE)
         UPDATE endpoint_traffic SET circuit_open_until = NULL, circuit_cooldown_ms = NULL, probe_started_at = NULL, failing_since = NULL
         FROM before WHERE endpoint_id = $1 AND (before.circuit_open_until IS NOT NULL OR failing_since IS NOT NULL)
         RETURNING before.circuit_open_until IS NOT NULL AS was_open`,
        [endpointId],
      );
      if (closed?.was_open) {
        this.deps.logger.info({ endpointId }, 'endpoint recovered: circuit closed');
        await this.raise('herald.endpoint.recovered', endpointId, outcome, at, { at });
      }
      return;
    }

    const { circuitFailures, circuitCooldownMs, maxCircuitCooldownMs } = this.deps.settings;
    const [state] = await this.db.transaction(async (tx: Queryable) => {
      await tx.query(
        `INSERT INTO endpoint_traffic (endpoint_id, failing_since) VALUES ($1, $2) ON CONFLICT (endpoint_id)
         DO UPDATE SET failing_since = COALESCE(endpoint_traffic.failing_since, EXCLUDED.failing_since)`,
        [endpointId, at],
      );
      // Opens a closed circuit at the threshold; a failed probe reopens it for twice as long.
      const cooldown = `CASE WHEN before.circuit_open_until IS NULL THEN $4::bigint ELSE LEAST(t.circuit_cooldown_ms * 2, $5::bigint) END`;
      return tx.query<{ opened: boolean | null; cooldown_ms: string | null; failing_since: Date | string }>(
        `WITH before AS (SELECT circuit_open_until, probe_started_at FROM endpoint_traffic WHERE endpoint_id = $1 FOR UPDATE),
         changed AS (
           UPDATE endpoint_traffic t SET circuit_cooldown_ms = ${cooldown},
             circuit_open_until = $2::timestamptz + (${cooldown}) * interval '1 millisecond', probe_started_at = NULL
           FROM before, endpoints e
           WHERE t.endpoint_id = $1 AND e.id = $1
             AND ((before.circuit_open_until IS NULL AND e.consecutive_failures >= $3) OR before.probe_started_at IS NOT NULL)
           RETURNING before.circuit_open_until IS NULL AS opened, t.circuit_cooldown_ms AS cooldown_ms
         )
         SELECT changed.opened, changed.cooldown_ms, t.failing_since FROM endpoint_traffic t LEFT JOIN changed ON true WHERE t.endpoint_id = $1`,
        [endpointId, at, circuitFailures, circuitCooldownMs, maxCircuitCooldownMs],
      );
    });
    if (state?.opened) {
      this.deps.logger.warn({ endpointId, cooldownMs: Number(state.cooldown_ms) }, 'endpoint circuit opened: attempts held');
      await this.raise('herald.endpoint.circuit_opened', endpointId, outcome, at, { at, cooldownMs: Number(state.cooldown_ms) });
    }
    if (state) await this.disableWhenFailingTooLong(endpointId, outcome, ms(state.failing_since));
  }

  private async disableWhenFailingTooLong(endpointId: string, outcome: AttemptOutcome, failingSince: number): Promise<void> {
    const endpoint = await this.endpoints.cachedById(endpointId);
    if (!endpoint) return;
    const limit = disableAfterMsOf(endpoint, this.deps.settings.disableAfterMs);
    if (limit === null || outcome.at - failingSince < limit) return;
    const disabled = await this.db.query('UPDATE endpoints SET enabled = false, updated_at = now() WHERE id = $1 AND enabled RETURNING 1', [endpointId]);
    this.endpoints.forget(endpointId);
    if (!disabled.length) return;
    const reason = `failing since ${iso(failingSince)}, longer than ${endpoint.disableAfter ?? 'the default'} disableAfter`;
    this.deps.logger.warn({ endpointId, failingSince: iso(failingSince) }, 'endpoint disabled: failing too long');
    await this.raise('herald.endpoint.disabled', endpointId, outcome, iso(failingSince), { at: iso(outcome.at), failingSince: iso(failingSince), reason });
  }

  /** An operational event about the endpoint, unless the attempt carried one itself (no loops). */
  private async raise(type: OperationalEventType, endpointId: string, outcome: AttemptOutcome, occasion: string, data: Record<string, unknown>): Promise<void> {
    if (!this.deps.events || outcome.eventType.startsWith(RESERVED_PREFIX)) return;
    await this.deps.events.endpointEvent(type, endpointId, occasion, data);
  }
}

/** The endpoint's health as GET /v1/endpoints/:id shows it. */
export async function endpointHealth(db: Queryable, endpoint: Endpoint): Promise<Health> {
  const [row] = await db.query<{
    consecutive_failures: number; last_success_at: Date | string | null; last_failure_at: Date | string | null; circuit_open_until: Date | string | null;
  }>(
    `SELECT e.consecutive_failures, e.last_success_at, e.last_failure_at, t.circuit_open_until
     FROM endpoints e LEFT JOIN endpoint_traffic t ON t.endpoint_id = e.id WHERE e.id = $1`,
    [endpoint.id],
  );
  const consecutiveFailures = row?.consecutive_failures ?? 0;
  const openUntil = row?.circuit_open_until ?? null;
  const state: HealthState = !endpoint.enabled ? 'disabled' : openUntil ? 'open' : consecutiveFailures > 0 ? 'degraded' : 'healthy';
  return {
    state, consecutiveFailures,
    lastSuccessAt: row?.last_success_at ? iso(ms(row.last_success_at)) : null,
    lastFailureAt: row?.last_failure_at ? iso(ms(row.last_failure_at)) : null,
    ...(openUntil && { circuitOpenUntil: iso(ms(openUntil)) }),
  };
}

/** Re-enabled by hand: a fresh start, circuit closed and the failure streak (towards auto-disable) forgotten. */
export async function resetTraffic(db: Queryable, endpointId: string): Promise<void> {
  await db.query('DELETE FROM endpoint_traffic WHERE endpoint_id = $1', [endpointId]);
}
