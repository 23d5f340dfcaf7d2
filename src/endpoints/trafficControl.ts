import { duration } from '../duration.ts';
import type { Logger } from '../logger.ts';
import type { Db } from '../storage/db.ts';
import type { Endpoint, EndpointStore } from './store.ts';
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
 * no worker slot meanwhile. After each attempt it reports the outcome to `recordOutcome`, which
 * answers what follows from it (operational events to raise, the next FIFO delivery to wake):
 * the delivery activity performs those through the Temporal facade.
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

  /** Whether an attempt may go out now, and if not, how long to hold it. */
  async admit(endpointId: string, deliveryId: string, now: number): Promise<Admission> {
    const endpoint = await this.endpoints.cachedById(endpointId);
    // Deleted or disabled: the attempt goes on and fails for good, so the delivery parks with that reason.
    if (!endpoint?.enabled) return { send: true, probe: false };
    const circuit = circuitOf(endpoint, deliveryId);
    const row = await this.state.admissionRow(endpointId, circuit);
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

    if (endpoint.ordering === 'fifo' && (await this.state.firstInLine(endpoint.id, endpoint.onFailure === 'block'))?.id !== deliveryId) {
      return { send: false, reason: 'not-first-in-line', waitMs: FIFO_RECHECK_MS };
    }
    if (endpoint.rateLimit) {
      const waitMs = await this.takeToken(endpointId, endpoint.rateLimit, now, !row?.has_traffic);
      if (waitMs !== undefined) return { send: false, reason: 'rate-limited', waitMs };
    }
    if (openUntil === undefined) return { send: true, probe: false };
    // The cool-down is over: one delivery claims the probe, the others wait for its answer.
    return (await this.state.claimProbe(endpointId, circuit, now, probeDeadline)) ? { send: true, probe: true } : { send: false, reason: 'probe-out', waitMs: probeDeadline };
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

  /** After an attempt, its row written: the traffic state it changes, and what follows from it. */
  async recordOutcome(endpointId: string, outcome: AttemptOutcome): Promise<TrafficChanges> {
    const notices: OperationalNotice[] = [];
    // Attempts at Herald's own events never raise operational events (no loops).
    const raise = (notice: OperationalNotice) => { if (!outcome.eventType.startsWith(RESERVED_PREFIX)) notices.push(notice); };
    const at = iso(outcome.at);
    if (outcome.statusCode === 429 && outcome.waitMs !== undefined) {
      // The receiver asked for less: every other delivery to it waits as long as this one does (its own schedule),
      // counted from the answer, as Retry-After is.
      await this.state.slowDown(endpointId, outcome.at + outcome.durationMs + outcome.waitMs, outcome.deliveryId);
    }
    if (outcome.status === 'failed') {
      raise({
        type: 'herald.delivery.failed', endpointId, occasion: `${outcome.deliveryId}|${outcome.attempt}`, data: {
          deliveryId: outcome.deliveryId, eventId: outcome.eventId, eventType: outcome.eventType, attempt: outcome.attempt,
          statusCode: outcome.statusCode, error: outcome.error,
        },
      });
    }
    const nextInLine = outcome.status === 'retrying' ? undefined : await this.nextInLine(endpointId, outcome.deliveryId);
    const changes = { notices, ...(nextInLine && { nextInLine }) };
    const endpoint = outcome.countsAgainstEndpoint ? await this.endpoints.cachedById(endpointId) : undefined;
    if (!endpoint) return changes;
    const tenant = circuitOf(endpoint, outcome.deliveryId);
    // Raised once per circuit change; an all-tenant endpoint's events name the tenant whose circuit it is.
    const circuit = endpoint.allTenants ? { occasion: `${at}|${tenant}`, data: { at, tenant } } : { occasion: at, data: { at } };
    if (outcome.status === 'delivered') {
      if (await this.state.closeCircuit(endpointId, tenant)) {
        this.deps.logger.info({ endpointId, tenant }, 'endpoint recovered: circuit closed');
        raise({ type: 'herald.endpoint.recovered', endpointId, ...circuit });
      }
      return changes;
    }

    const state = await this.state.countFailure(endpointId, tenant, outcome.at, this.deps.settings);
    if (state?.opened) {
      this.deps.logger.warn({ endpointId, tenant, cooldownMs: Number(state.cooldown_ms) }, 'endpoint circuit opened: attempts held');
      raise({ type: 'herald.endpoint.circuit_opened', endpointId, occasion: circuit.occasion, data: { ...circuit.data, cooldownMs: Number(state.cooldown_ms) } });
    }
    const disabled = state && await this.disableWhenFailingTooLong(endpoint, outcome, ms(state.failing_since));
    if (disabled) raise(disabled);
    return changes;
  }

  /** Disables the endpoint once every one of its circuits has been failing for its `disableAfter` (this one since `failingSince`). */
  private async disableWhenFailingTooLong(endpoint: Endpoint, outcome: AttemptOutcome, failingSince: number): Promise<OperationalNotice | undefined> {
    const limit = disableAfterMsOf(endpoint, this.deps.settings.disableAfterMs);
    if (limit === null || outcome.at - failingSince < limit) return undefined;
    const disabledSince = await this.state.disableWhenAllFailing(endpoint.id, outcome.at - limit);
    this.endpoints.forget(endpoint.id);
    if (!disabledSince) return undefined;
    // For every tenant since then.
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
