import { duration } from '../duration.ts';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import type { TenantStore } from '../storage/tenants.ts';
import type { HeraldTemporal } from '../temporal/heraldTemporal.ts';
import { eraseEverywhere } from './erase.ts';

export interface RetentionDeps {
  tenants: Pick<TenantStore, 'payloadRetentions'>;
  log: Pick<DeliveryLog, 'blankExcerptsBefore' | 'markErased' | 'eraseAttempts'>;
  temporal: Pick<HeraldTemporal, 'eventsStartedBefore' | 'eraseEvent'>;
}

/**
 * Payload retention, run daily by the attempt log's Schedule: for each tenant (its own `payloadRetention`, or
 * HERALD_PAYLOAD_RETENTION), attempts older than the retention lose their excerpts, and events accepted before it
 * are erased as `DELETE /v1/events/:id` erases them (workflows deleted, anything still pending cancelled, the id
 * a duplicate for the idempotency window). Ids, times and status codes stay, for the attempt log's retention.
 */
export async function enforcePayloadRetention(deps: RetentionDeps, defaultRetentionMs: number, now = Date.now()): Promise<{ attemptExcerpts: number; events: number }> {
  const own = await deps.tenants.payloadRetentions();
  const scopes = [
    ...own.map(({ tenant, payloadRetention }) => ({ scope: { tenant }, retentionMs: duration.parse(payloadRetention) })),
    { scope: { exceptTenants: own.map((t) => t.tenant) }, retentionMs: defaultRetentionMs },
  ];
  let attemptExcerpts = 0;
  let events = 0;
  for (const { scope, retentionMs } of scopes) {
    const cutoff = new Date(now - retentionMs);
    attemptExcerpts += await deps.log.blankExcerptsBefore(scope, cutoff);
    for (const { tenant, eventId } of await deps.temporal.eventsStartedBefore(scope, cutoff)) {
      attemptExcerpts += (await eraseEverywhere(deps, tenant, eventId)).removed.attemptExcerpts;
      events++;
    }
  }
  return { attemptExcerpts, events };
}
