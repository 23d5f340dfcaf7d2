import crypto from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import type { EndpointStore } from '../storage/endpoints.ts';
import { deliveryId, type HeraldEvent, type HeraldTemporal } from '../temporal/heraldTemporal.ts';
import { subscriptionFor } from './subscription.ts';

/** Herald's own event types: producers may not send them, and only endpoints that name them receive them. */
export const RESERVED_PREFIX = 'herald.';
export const operationalEventTypes = ['herald.endpoint.disabled', 'herald.endpoint.circuit_opened', 'herald.endpoint.recovered', 'herald.delivery.failed'] as const;
export type OperationalEventType = (typeof operationalEventTypes)[number];

/** How long accepting an operational event may take before the attempt that raised it gives up on it. */
const INGEST_DEADLINE_MS = 10_000;

/**
 * Herald's operational events (an endpoint disabled, its circuit opened, recovered; a dead letter),
 * sent through Herald's own delivery machinery: signed and retried like any event, to the endpoints
 * of the tenant whose `eventTypes` name them (`herald.*` or the type itself; a bare `*` does not).
 * Never to the endpoint the event is about, and never about a delivery of an operational event.
 */
export class OperationalEvents {
  constructor(private readonly deps: { endpoints: EndpointStore; log: DeliveryLog; temporal: Pick<HeraldTemporal, 'ingest'>; logger: Logger }) {}

  /**
   * Raises `type` about the endpoint. `occasion` identifies the change (an instant), so two workers
   * seeing the same change raise one event: the event id is derived from it.
   */
  async endpointEvent(type: OperationalEventType, endpointId: string, occasion: string, data: Record<string, unknown>): Promise<void> {
    const endpoint = await this.deps.endpoints.cachedById(endpointId);
    if (!endpoint) return;
    await this.emit(endpoint.tenant, type, `${type}|${endpointId}|${occasion}`, endpointId, { endpointId, url: endpoint.url, ...data });
  }

  private async emit(tenant: string, type: OperationalEventType, occasion: string, aboutEndpointId: string, data: Record<string, unknown>): Promise<void> {
    const subscribers = (await this.deps.endpoints.subscribedTo(tenant, type))
      .filter((e) => e.id !== aboutEndpointId && e.eventTypes.some((pattern) => pattern.startsWith(RESERVED_PREFIX)));
    if (!subscribers.length) return;
    const event: HeraldEvent = {
      tenant,
      id: `op_${crypto.createHash('sha256').update(occasion).digest('base64url').slice(0, 24)}`,
      type,
      occurredAt: new Date().toISOString(),
      data,
    };
    const subscriptions = subscribers.map((endpoint) => subscriptionFor(endpoint));
    try {
      if ((await this.deps.temporal.ingest(event, subscriptions, INGEST_DEADLINE_MS)) === 'duplicate') return;
      await this.deps.log.registerPending(event, subscriptions.map((s) => ({ id: deliveryId(tenant, event.id, s.endpointId), endpointId: s.endpointId })));
      this.deps.logger.info({ eventId: event.id, tenant, eventType: type, endpoints: subscriptions.length }, 'operational event raised');
    } catch (err) {
      // The attempt that raised it has already counted; losing the notice must not fail the delivery.
      this.deps.logger.error({ err, tenant, eventType: type, endpointId: aboutEndpointId }, 'operational event not raised');
    }
  }
}
