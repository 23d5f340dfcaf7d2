import crypto from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import type { EndpointStore } from './store.ts';
import type { HeraldTemporal } from '../temporal/heraldTemporal.ts';
import { acceptEvent, newEvent } from '../events/accept.ts';
import { subscriptionFor } from './subscription.ts';

/** Herald's own event types: producers may not send them, and only endpoints that name them receive them. */
export const RESERVED_PREFIX = 'herald.';
export const operationalEventTypes = ['herald.endpoint.disabled', 'herald.endpoint.circuit_opened', 'herald.endpoint.recovered', 'herald.delivery.failed'] as const;
export type OperationalEventType = (typeof operationalEventTypes)[number];

/** How long accepting an operational event may take before the attempt that raised it gives up on it. */
const INGEST_DEADLINE_MS = 10_000;

/**
 * An operational event traffic control decided on: its type, the endpoint it is about, and the
 * occasion that identifies the change (an instant), so two workers seeing the same change raise one
 * event: the event id is derived from it.
 */
export interface OperationalNotice {
  type: OperationalEventType;
  endpointId: string;
  occasion: string;
  data: Record<string, unknown>;
}

export interface OperationalEventDeps {
  endpoints: EndpointStore;
  log: DeliveryLog;
  temporal: Pick<HeraldTemporal, 'ingest'>;
  logger: Logger;
}

/**
 * Raises one of Herald's operational events (an endpoint disabled, its circuit opened, recovered; a
 * dead letter), sent through Herald's own delivery machinery: signed and retried like any event, to
 * the endpoints of the tenant whose `eventTypes` name them (`herald.*` or the type itself; a bare `*`
 * does not). Never to the endpoint the event is about.
 */
export async function raiseOperationalEvent(deps: OperationalEventDeps, notice: OperationalNotice): Promise<void> {
  const { type, endpointId } = notice;
  const endpoint = await deps.endpoints.cachedById(endpointId);
  if (!endpoint) return;
  const { tenant } = endpoint;
  const subscribers = (await deps.endpoints.subscribedTo(tenant, type))
    .filter((e) => e.id !== endpointId && e.eventTypes.some((pattern) => pattern.startsWith(RESERVED_PREFIX)));
  if (!subscribers.length) return;
  const event = newEvent({
    tenant, type, data: { endpointId, url: endpoint.url, ...notice.data },
    id: `op_${crypto.createHash('sha256').update(`${type}|${endpointId}|${notice.occasion}`).digest('base64url').slice(0, 24)}`,
  });
  const subscriptions = subscribers.map((subscriber) => subscriptionFor(subscriber));
  try {
    if ((await acceptEvent(deps, event, subscriptions, { deadlineMs: INGEST_DEADLINE_MS })) === 'duplicate') return;
    deps.logger.info({ eventId: event.id, tenant, eventType: type, endpoints: subscriptions.length }, 'operational event raised');
  } catch (err) {
    // The attempt that raised it has already counted; losing the notice must not fail the delivery.
    deps.logger.error({ err, tenant, eventType: type, endpointId }, 'operational event not raised');
  }
}
