import crypto from 'node:crypto';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import { deliveryId, type HeraldEvent, type HeraldTemporal, type Subscription } from '../temporal/heraldTemporal.ts';

/** An event as Herald accepts it: an id (`evt_<uuid>` unless given) and its time as ISO 8601 (now unless given). */
export function newEvent(fields: { tenant: string; type: string; data: unknown; id?: string; occurredAt?: string; channels?: string[]; tags?: string[] }): HeraldEvent {
  return {
    tenant: fields.tenant,
    id: fields.id ?? `evt_${crypto.randomUUID()}`,
    type: fields.type,
    occurredAt: (fields.occurredAt ? new Date(fields.occurredAt) : new Date()).toISOString(),
    data: fields.data,
    ...(fields.channels && { channels: fields.channels }),
    ...(fields.tags && { tags: fields.tags }),
  };
}

export interface AcceptDeps {
  temporal: Pick<HeraldTemporal, 'ingest'>;
  log: Pick<DeliveryLog, 'registerPending' | 'isErased'>;
}

/**
 * The one way an event enters Herald (POST /v1/events, a test send, an operational event): its
 * workflow started with the subscriptions resolved beforehand, then its deliveries entered in the
 * attempt log as pending. `duplicate` when the id was seen within the namespace's retention, or erased
 * within the idempotency window (Temporal no longer has it): nothing more is done. A dead-letter
 * retention of its own when given (test sends park briefly); a start delay when scheduled for later (due at `deliverAt`).
 */
export async function acceptEvent(
  deps: AcceptDeps, event: HeraldEvent, subscriptions: Subscription[], options: { deadlineMs: number; deadLetterRetentionMs?: number; startDelayMs?: number; deliverAt?: string },
): Promise<'accepted' | 'duplicate'> {
  if (await deps.log.isErased(event.tenant, event.id)) return 'duplicate';
  if ((await deps.temporal.ingest(event, subscriptions, options.deadlineMs, options)) === 'duplicate') return 'duplicate';
  await deps.log.registerPending(event, subscriptions.map((s) => ({ id: deliveryId(event.tenant, event.id, s.endpointId), endpointId: s.endpointId })), options.deliverAt);
  return 'accepted';
}
