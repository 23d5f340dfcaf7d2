import { duration } from '../duration.ts';
import type { Logger } from '../logger.ts';
import type { Db, Queryable } from '../storage/db.ts';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import { type HeraldTemporal, parseDeliveryId } from '../temporal/heraldTemporal.ts';
import type { Endpoint, EndpointStore } from '../storage/endpoints.ts';
import { OperationalEvents, type OperationalEventType, RESERVED_PREFIX } from './operationalEvents.ts';

/**
 * Per-endpoint traffic control: rate limits, the slow-down after a 429, circuit breaking and
 * auto-disable. Its state is in Herald's database, changed by single atomic statements, so it
 * holds across every worker process on PostgreSQL: one row per endpoint (`endpoint_traffic`: the
 * token bucket and the slow-down, which concern the receiver's capacity) and one per circuit
 * (`endpoint_circuits`). An endpoint has one circuit; an all-tenant endpoint has one per tenant, so
 * a tenant whose events its receiver refuses opens its own circuit only, and the endpoint is
 * disabled only once it fails for every tenant that sends to it.
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
  /** While open: when the next probe may go out (the soonest, when several tenants' circuits are open). */
  circuitOpenUntil?: string;
  /** An all-tenant endpoint's: the tenants whose circuit is open (only their deliveries are held). */
  openFor?: string[];
}

/** What one attempt's outcome tells traffic control. */
export interface AttemptOutcome {
  deliveryId: string;
  eventId: string;
  attempt: number;
  /** The delivery's state after the attempt: `failed` is a dead letter. */
  status: 'delivered' | 'retrying' | 'failed';
  /**
   * Whether it tells about the receiver: false when Herald failed the attempt before sending (a
   * transform or build failure, a deleted or disabled endpoint), which opens no circuit and moves no health.
   */
  countsAgainstEndpoint: boolean;
  statusCode: number | null;
  error: string | null;
  /** The attempt's own time (workflow time under a time-skipping test server). */
  at: number;
  /** How long the attempt took: its answer came at `at + durationMs`. */
  durationMs: number;
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

/** The endpoint's traffic row (if any) and the delivery's circuit (if any). */
interface AdmissionRow {
  has_traffic: boolean;
  slowed_until: Date | string | null;
  slowed_by: string | null;
  open_until: Date | string | null;
  cooldown_ms: string | number | null;
  probe_started_at: Date | string | null;
}

const ms = (value: Date | string) => new Date(value).getTime();
const iso = (at: number) => new Date(at).toISOString();
const disableAfterMsOf = (endpoint: Endpoint, fallback: number | null) =>
  endpoint.disableAfter === undefined ? fallback : endpoint.disableAfter === null ? null : duration.parse(endpoint.disableAfter);
/**
 * The circuit a delivery answers to, named by tenant: its event's tenant on an all-tenant endpoint,
 * the endpoint's own otherwise (its only one). Delivery ids name the event's tenant.
 */
const circuitOf = (endpoint: Endpoint, deliveryId: string) => (endpoint.allTenants ? parseDeliveryId(deliveryId)?.tenant ?? endpoint.tenant : endpoint.tenant);

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
    const circuit = circuitOf(endpoint, deliveryId);
    const [row] = await this.db.query<AdmissionRow>(
      `SELECT t.endpoint_id IS NOT NULL AS has_traffic, t.slowed_until, t.slowed_by, c.open_until, c.cooldown_ms, c.probe_started_at
       FROM (SELECT $1::text AS id) AS e LEFT JOIN endpoint_traffic t ON t.endpoint_id = e.id
         LEFT JOIN endpoint_circuits c ON c.endpoint_id = e.id AND c.tenant = $2`,
      [endpointId, circuit],
    );
    if (!row?.has_traffic && !row?.open_until && !endpoint.rateLimit && endpoint.ordering !== 'fifo') return { send: true, probe: false };

    if (row?.slowed_until && ms(row.slowed_until) > now && row.slowed_by !== deliveryId) return { send: false, reason: 'slowed-down', waitMs: ms(row.slowed_until) - now };
    const openUntil = row?.open_until ? ms(row.open_until) : undefined;
    if (openUntil !== undefined && openUntil > now) {
      // Spread over a tenth of the cool-down: the held deliveries do not all return at the probe's instant.
      const spread = Number(row!.cooldown_ms ?? 0) / 10;
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
      const waitMs = await this.takeToken(endpointId, endpoint.rateLimit, now, !row?.has_traffic);
      if (waitMs !== undefined) return { send: false, reason: 'rate-limited', waitMs };
    }
    if (openUntil === undefined) return { send: true, probe: false };
    // The cool-down is over: one delivery claims the probe, the others wait for its answer.
    const claimed = await this.db.query(
      `UPDATE endpoint_circuits SET probe_started_at = $3 WHERE endpoint_id = $1 AND tenant = $2 AND open_until <= $3
         AND (probe_started_at IS NULL OR probe_started_at <= $4) RETURNING 1`,
      [endpointId, circuit, iso(now), iso(now - probeDeadline)],
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

  /** After an attempt, its row written. */
  async recordOutcome(endpointId: string, outcome: AttemptOutcome): Promise<void> {
    const at = iso(outcome.at);
    if (outcome.statusCode === 429 && outcome.waitMs !== undefined) {
      // The receiver asked for less: every other delivery to it waits as long as this one does (its own schedule),
      // counted from the answer, as Retry-After is.
      await this.db.query(
        `INSERT INTO endpoint_traffic (endpoint_id, slowed_until, slowed_by) VALUES ($1, $2, $3) ON CONFLICT (endpoint_id)
         DO UPDATE SET slowed_until = GREATEST(endpoint_traffic.slowed_until, EXCLUDED.slowed_until),
           slowed_by = CASE WHEN endpoint_traffic.slowed_until > EXCLUDED.slowed_until THEN endpoint_traffic.slowed_by ELSE EXCLUDED.slowed_by END`,
        [endpointId, iso(outcome.at + outcome.durationMs + outcome.waitMs), outcome.deliveryId],
      );
    }
    if (outcome.status === 'failed') {
      await this.raise('herald.delivery.failed', endpointId, outcome, `${outcome.deliveryId}|${outcome.attempt}`, {
        deliveryId: outcome.deliveryId, eventId: outcome.eventId, eventType: outcome.eventType, attempt: outcome.attempt,
        statusCode: outcome.statusCode, error: outcome.error,
      });
    }
    if (outcome.status !== 'retrying') await this.wakeNextInLine(endpointId, outcome.deliveryId);
    const endpoint = outcome.countsAgainstEndpoint ? await this.endpoints.cachedById(endpointId) : undefined;
    if (!endpoint) return;
    const tenant = circuitOf(endpoint, outcome.deliveryId);
    // Raised once per circuit change; an all-tenant endpoint's events name the tenant whose circuit it is.
    const circuit = endpoint.allTenants ? { occasion: `${at}|${tenant}`, data: { at, tenant } } : { occasion: at, data: { at } };
    if (outcome.status === 'delivered') {
      // Resets a circuit that was failing (locking only such a row), and creates a closed one if there was none:
      // on an all-tenant endpoint, a row with no failure tells that this tenant's deliveries succeed.
      const [closed] = await this.db.query<{ was_open: boolean }>(
        `WITH before AS (
           SELECT open_until FROM endpoint_circuits WHERE endpoint_id = $1 AND tenant = $2
             AND (consecutive_failures > 0 OR open_until IS NOT NULL OR failing_since IS NOT NULL) FOR UPDATE
         ), reset AS (
           UPDATE endpoint_circuits c SET consecutive_failures = 0, open_until = NULL, cooldown_ms = NULL, probe_started_at = NULL, failing_since = NULL
           FROM before WHERE c.endpoint_id = $1 AND c.tenant = $2 RETURNING before.open_until IS NOT NULL AS was_open
         ), created AS (
           INSERT INTO endpoint_circuits (endpoint_id, tenant) VALUES ($1, $2) ON CONFLICT (endpoint_id, tenant) DO NOTHING
         )
         SELECT was_open FROM reset`,
        [endpointId, tenant],
      );
      if (closed?.was_open) {
        this.deps.logger.info({ endpointId, tenant }, 'endpoint recovered: circuit closed');
        await this.raise('herald.endpoint.recovered', endpointId, outcome, circuit.occasion, circuit.data);
      }
      return;
    }

    const { circuitFailures, circuitCooldownMs, maxCircuitCooldownMs } = this.deps.settings;
    const [state] = await this.db.transaction(async (tx: Queryable) => {
      await tx.query(
        `INSERT INTO endpoint_circuits (endpoint_id, tenant, consecutive_failures, failing_since) VALUES ($1, $2, 1, $3) ON CONFLICT (endpoint_id, tenant)
         DO UPDATE SET consecutive_failures = endpoint_circuits.consecutive_failures + 1, failing_since = COALESCE(endpoint_circuits.failing_since, EXCLUDED.failing_since)`,
        [endpointId, tenant, at],
      );
      // Opens a closed circuit at the threshold; a failed probe reopens it for twice as long.
      const cooldown = `CASE WHEN before.open_until IS NULL THEN $5::bigint ELSE LEAST(c.cooldown_ms * 2, $6::bigint) END`;
      return tx.query<{ opened: boolean | null; cooldown_ms: string | null; failing_since: Date | string }>(
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
        [endpointId, tenant, at, circuitFailures, circuitCooldownMs, maxCircuitCooldownMs],
      );
    });
    if (state?.opened) {
      this.deps.logger.warn({ endpointId, tenant, cooldownMs: Number(state.cooldown_ms) }, 'endpoint circuit opened: attempts held');
      await this.raise('herald.endpoint.circuit_opened', endpointId, outcome, circuit.occasion, { ...circuit.data, cooldownMs: Number(state.cooldown_ms) });
    }
    if (state) await this.disableWhenFailingTooLong(endpoint, outcome, ms(state.failing_since));
  }

  /** Disables the endpoint once every one of its circuits has been failing for its `disableAfter` (this one since `failingSince`). */
  private async disableWhenFailingTooLong(endpoint: Endpoint, outcome: AttemptOutcome, failingSince: number): Promise<void> {
    const limit = disableAfterMsOf(endpoint, this.deps.settings.disableAfterMs);
    if (limit === null || outcome.at - failingSince < limit) return;
    const [disabled] = await this.db.query<{ failing_since: Date | string }>(
      `WITH circuits AS (SELECT bool_and(failing_since IS NOT NULL) AS all_failing, max(failing_since) AS failing_since FROM endpoint_circuits WHERE endpoint_id = $1)
       UPDATE endpoints SET enabled = false, updated_at = now() FROM circuits
       WHERE id = $1 AND enabled AND circuits.all_failing AND circuits.failing_since <= $2 RETURNING circuits.failing_since`,
      [endpoint.id, iso(outcome.at - limit)],
    );
    this.endpoints.forget(endpoint.id);
    if (!disabled) return;
    // For every tenant since then.
    const since = iso(ms(disabled.failing_since));
    const reason = `failing since ${since}, longer than ${endpoint.disableAfter ?? 'the default'} disableAfter`;
    this.deps.logger.warn({ endpointId: endpoint.id, failingSince: since }, 'endpoint disabled: failing too long');
    await this.raise('herald.endpoint.disabled', endpoint.id, outcome, since, { at: iso(outcome.at), failingSince: since, reason });
  }

  /** An operational event about the endpoint, unless the attempt carried one itself (no loops). */
  private async raise(type: OperationalEventType, endpointId: string, outcome: AttemptOutcome, occasion: string, data: Record<string, unknown>): Promise<void> {
    if (!this.deps.events || outcome.eventType.startsWith(RESERVED_PREFIX)) return;
    await this.deps.events.endpointEvent(type, endpointId, occasion, data);
  }
}

/** The endpoint's health as GET /v1/endpoints/:id shows it. */
export async function endpointHealth(db: Queryable, endpoint: Endpoint): Promise<Health> {
  const [[row], open] = await Promise.all([
    db.query<{ consecutive_failures: number; last_success_at: Date | string | null; last_failure_at: Date | string | null }>(
      'SELECT consecutive_failures, last_success_at, last_failure_at FROM endpoints WHERE id = $1', [endpoint.id],
    ),
    db.query<{ tenant: string; open_until: Date | string }>(
      'SELECT tenant, open_until FROM endpoint_circuits WHERE endpoint_id = $1 AND open_until IS NOT NULL ORDER BY open_until, tenant', [endpoint.id],
    ),
  ]);
  const consecutiveFailures = row?.consecutive_failures ?? 0;
  const state: HealthState = !endpoint.enabled ? 'disabled' : open.length ? 'open' : consecutiveFailures > 0 ? 'degraded' : 'healthy';
  return {
    state, consecutiveFailures,
    lastSuccessAt: row?.last_success_at ? iso(ms(row.last_success_at)) : null,
    lastFailureAt: row?.last_failure_at ? iso(ms(row.last_failure_at)) : null,
    ...(open[0] && { circuitOpenUntil: iso(ms(open[0].open_until)) }),
    ...(endpoint.allTenants && open.length && { openFor: open.map((c) => c.tenant) }),
  };
}

/** Re-enabled by hand: a fresh start, circuits closed and the failure streaks (towards auto-disable) forgotten. */
export async function resetTraffic(db: Queryable, endpointId: string): Promise<void> {
  await db.query('DELETE FROM endpoint_traffic WHERE endpoint_id = $1', [endpointId]);
  await db.query('DELETE FROM endpoint_circuits WHERE endpoint_id = $1', [endpointId]);
}
