import { duration } from '../duration.ts';
import type { Logger } from '../logger.ts';
import type { Db } from '../storage/db.ts';
import type { Endpoint, EndpointStore } from './store.ts';
import type { StatementPart } from '../storage/statement.ts';
import { type QueuedDelivery, TrafficStore } from '../storage/traffic.ts';
import { parseDeliveryId } from '../temporal/heraldTemporal.ts';
import { type OperationalNotice, RESERVED_PREFIX } from './operationalEvents.ts';

/**
 * Per-endpoint traffic control: rate limits, the slow-down after a 429, circuit breaking, FIFO
 * order and auto-disable. It decides; its state is in Herald's database (src/storage/traffic.ts),
 * shared by every worker process. An endpoint has one circuit; an all-tenant endpoint has one per
 * tenant, so a tenant whose events its receiver refuses opens its own circuit only, and the
 * endpoint is disabled only once it fails for every tenant that sends to it.
 *
 * Before each attempt the delivery asks `admit`; a hold is not an attempt: the delivery writes
 * no attempt row (so spends no budget) and asks Temporal to run it again after the wait, holding
 * no worker slot meanwhile; an admitted attempt gets its number. After each attempt it records the
 * outcome with `recordOutcome` (the attempt's row, the endpoint's health and its circuit, in one
 * statement or, when it counts a failure, one transaction), which answers what follows from it
 * (operational events to raise, the next FIFO delivery to wake): the delivery activity performs
 * those through the Temporal facade.
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
/** An attempt's place in its delivery: its number over the delivery's life, and how many attempts its budget has made before it. */
export interface AttemptNumber {
  number: number;
  madeInBudget: number;
}
/** Whether the attempt goes now or is held, with the number it has (a hold too long for the delivery is recorded as that attempt). */
export type Admission = ({ send: true; probe: boolean } | { send: false; reason: HoldReason; waitMs: number }) & { attempt: AttemptNumber };

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
   * transform or build failure, a deleted or disabled endpoint) or the egress proxy failed it, which opens no circuit and moves no health.
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

/** What an attempt's outcome changed beyond traffic state, for the delivery activity to act on. */
export interface TrafficChanges {
  /** Operational events to raise (none about attempts at Herald's own events). */
  notices: OperationalNotice[];
  /** The FIFO delivery now first in line, to be given its turn. */
  nextInLine?: QueuedDelivery;
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

/** Traffic control for a worker, its state in `db`. */
export function createTrafficControl(deps: { db: Db; endpoints: EndpointStore; logger: Logger; settings: TrafficSettings }): TrafficControl {
  return new TrafficControl(new TrafficStore(deps.db), deps.endpoints, { settings: deps.settings, logger: deps.logger });
}

export class TrafficControl {
  constructor(
    private readonly state: TrafficStore,
    private readonly endpoints: EndpointStore,
    private readonly deps: { settings: TrafficSettings; logger: Logger },
  ) {}

  /** Whether an attempt at the delivery may go out now, and its number; if not, how long to hold it. */
  async admit(endpointId: string, delivery: { id: string; budget: string }, now: number): Promise<Admission> {
    const deliveryId = delivery.id;
    const endpoint = await this.endpoints.cachedById(endpointId);
    // Read even for an endpoint deleted or disabled: the attempt goes on and fails for good, so the delivery parks with that reason.
    const row = await this.state.admissionRow(endpointId, endpoint ? circuitOf(endpoint, deliveryId) : '', delivery);
    const attempt = { number: row.attempts_made + 1, madeInBudget: row.attempts_in_budget };
    const send = (probe: boolean): Admission => ({ send: true, probe, attempt });
    const hold = (reason: HoldReason, waitMs: number): Admission => ({ send: false, reason, waitMs, attempt });
    if (!endpoint?.enabled) return send(false);
    if (!row.has_traffic && !row.open_until && !endpoint.rateLimit && endpoint.ordering !== 'fifo') return send(false);

    if (row.slowed_until && ms(row.slowed_until) > now && row.slowed_by !== deliveryId) return hold('slowed-down', ms(row.slowed_until) - now);
    const openUntil = row.open_until ? ms(row.open_until) : undefined;
    if (openUntil !== undefined && openUntil > now) {
      // Spread over a tenth of the cool-down: the held deliveries do not all return at the probe's instant.
      const spread = Number(row.cooldown_ms ?? 0) / 10;
      return hold('circuit-open', openUntil - now + Math.random() * spread);
    }
    const probeDeadline = endpoint.timeoutMs + PROBE_SLACK_MS;
    if (openUntil !== undefined && row.probe_started_at && ms(row.probe_started_at) + probeDeadline > now) {
      return hold('probe-out', ms(row.probe_started_at) + probeDeadline - now);
    }

    if (endpoint.ordering === 'fifo' && (await this.state.firstInLine(endpoint.id, endpoint.onFailure === 'block'))?.id !== deliveryId) {
      return hold('not-first-in-line', FIFO_RECHECK_MS);
    }
    if (endpoint.rateLimit) {
      const waitMs = await this.takeToken(endpointId, endpoint.rateLimit, now, !row.has_traffic);
      if (waitMs !== undefined) return hold('rate-limited', waitMs);
    }
    if (openUntil === undefined) return send(false);
    // The cool-down is over: one delivery claims the probe, the others wait for its answer.
    return (await this.state.claimProbe(endpointId, circuitOf(endpoint, deliveryId), now, probeDeadline)) ? send(true) : hold('probe-out', probeDeadline);
  }

  /** A FIFO delivery settled or was cancelled: the next in line, which goes now rather than at its next recheck. */
  async nextInLine(endpointId: string, settled: string): Promise<QueuedDelivery | undefined> {
    const endpoint = await this.endpoints.cachedById(endpointId);
    if (endpoint?.ordering !== 'fifo') return undefined;
    const next = await this.state.firstInLine(endpoint.id, endpoint.onFailure === 'block');
    // A dead letter that blocks the line is still its head: nothing to wake.
    return next && next.id !== settled ? next : undefined;
  }

  /** One token from the endpoint's bucket, or the wait for the next one when it is empty. */
  private async takeToken(endpointId: string, limit: { perSecond: number; burst: number }, now: number, newRow: boolean): Promise<number | undefined> {
    const token = await this.state.takeToken(endpointId, limit, now, newRow);
    if (token.taken) return undefined;
    const intervalMs = 1000 / limit.perSecond;
    const deficitMs = (1 - Math.min(1, token.available)) * intervalMs;
    return Math.max(MIN_HOLD_MS, deficitMs + Math.random() * intervalMs * RATE_SPREAD_INTERVALS);
  }

  /**
   * After an attempt: writes its record (`attemptRecord`, the delivery log's part) with what it changes here (the
   * endpoint's health, a 429's slow-down, the circuit), in one statement, or one transaction when it counts a failure;
   * answers what follows from it.
   */
  async recordOutcome(endpointId: string, outcome: AttemptOutcome, attemptRecord: StatementPart): Promise<TrafficChanges> {
    const notices: OperationalNotice[] = [];
    // Attempts at Herald's own events never raise operational events (no loops).
    const raise = (notice: OperationalNotice) => { if (!outcome.eventType.startsWith(RESERVED_PREFIX)) notices.push(notice); };
    const at = iso(outcome.at);
    if (outcome.status === 'failed') {
      raise({
        type: 'herald.delivery.failed', endpointId, occasion: `${outcome.deliveryId}|${outcome.attempt}`, data: {
          deliveryId: outcome.deliveryId, eventId: outcome.eventId, eventType: outcome.eventType, attempt: outcome.attempt,
          statusCode: outcome.statusCode, error: outcome.error,
        },
      });
    }
    const parts = [attemptRecord];
    if (outcome.statusCode === 429 && outcome.waitMs !== undefined) {
      // The receiver asked for less: every other delivery to it waits as long as this one does (its own schedule),
      // counted from the answer, as Retry-After is.
      parts.push(this.state.slowDownPart(endpointId, outcome.at + outcome.durationMs + outcome.waitMs, outcome.deliveryId));
    }
    const endpoint = outcome.countsAgainstEndpoint ? await this.endpoints.cachedById(endpointId) : undefined;
    const delivered = outcome.status === 'delivered';
    if (!endpoint) await this.state.write(parts);
    else {
      parts.push(this.state.healthPart(endpointId, delivered, outcome.at));
      const tenant = circuitOf(endpoint, outcome.deliveryId);
      // Raised once per circuit change; an all-tenant endpoint's events name the tenant whose circuit it is.
      const circuit = endpoint.allTenants ? { occasion: `${at}|${tenant}`, data: { at, tenant } } : { occasion: at, data: { at } };
      if (delivered) {
        if (await this.state.closeCircuitWith(parts, endpointId, tenant)) {
          this.deps.logger.info({ endpointId, tenant }, 'endpoint recovered: circuit closed');
          raise({ type: 'herald.endpoint.recovered', endpointId, ...circuit });
        }
      } else {
        const disableAfterMs = disableAfterMsOf(endpoint, this.deps.settings.disableAfterMs);
        const disableIfFailingSince = disableAfterMs === null ? undefined : outcome.at - disableAfterMs;
        const state = await this.state.countFailureWith(parts, endpointId, tenant, outcome.at, this.deps.settings, disableIfFailingSince);
        if (state?.opened) {
          this.deps.logger.warn({ endpointId, tenant, cooldownMs: Number(state.cooldown_ms) }, 'endpoint circuit opened: attempts held');
          raise({ type: 'herald.endpoint.circuit_opened', endpointId, occasion: circuit.occasion, data: { ...circuit.data, cooldownMs: Number(state.cooldown_ms) } });
        }
        // Checked for disabling (disabled here or elsewhere): the cached endpoint may be stale.
        if (state && disableIfFailingSince !== undefined && ms(state.failing_since) <= disableIfFailingSince) this.endpoints.forget(endpoint.id);
        if (state?.disabledSince) raise(this.disabledNotice(endpoint, outcome, state.disabledSince));
      }
    }
    // Read once the attempt is written: the line as it stands after it.
    const nextInLine = outcome.status === 'retrying' ? undefined : await this.nextInLine(endpointId, outcome.deliveryId);
    return { notices, ...(nextInLine && { nextInLine }) };
  }

  /** The endpoint was disabled: failing (for every tenant) since `disabledSince`. */
  private disabledNotice(endpoint: Endpoint, outcome: AttemptOutcome, disabledSince: Date | string): OperationalNotice {
    const since = iso(ms(disabledSince));
    const reason = `failing since ${since}, longer than ${endpoint.disableAfter ?? 'the default'} disableAfter`;
    this.deps.logger.warn({ endpointId: endpoint.id, failingSince: since }, 'endpoint disabled: failing too long');
    return { type: 'herald.endpoint.disabled', endpointId: endpoint.id, occasion: since, data: { at: iso(outcome.at), failingSince: since, reason } };
  }
}

/** The endpoint's health as GET /v1/endpoints/:id shows it. */
export async function endpointHealth(db: Db, endpoint: Endpoint): Promise<Health> {
  const { endpoint: row, open } = await new TrafficStore(db).healthRows(endpoint.id);
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
export async function resetTraffic(db: Db, endpointId: string): Promise<void> {
  await new TrafficStore(db).reset(endpointId);
}
