import { deliveryId, type HeraldActivities } from '../workflows/contract.ts';
import type { AuditLog } from '../src/storage/auditLog.ts';
import { enforcePayloadRetention, type RetentionDeps } from '../src/events/retention.ts';
import { deliver, type DeliverDeps, react } from './deliver.ts';

export type ActivityDeps = DeliverDeps & RetentionDeps & { audit: Pick<AuditLog, 'prune'> };

/** The side effects workflows may ask for, bound to their dependencies. */
export function createActivities(deps: ActivityDeps): HeraldActivities {
  return {
    deliver: (input) => deliver(deps, input),
    async recordCancelled({ tenant, eventId, endpointId }) {
      const id = deliveryId(tenant, eventId, endpointId);
      await deps.log.markCancelled(id);
      const nextInLine = await deps.traffic.nextInLine(endpointId, id);
      await react(deps, endpointId, { notices: [], ...(nextInLine && { nextInLine }) });
    },
    pruneDeliveryLog: async (settings) => ({ ...(await deps.log.prune(settings)), auditRecords: await deps.audit.prune(settings.auditRetentionMs) }),
    enforcePayloadRetention: ({ payloadRetentionMs }) => enforcePayloadRetention(deps, payloadRetentionMs),
  };
}
