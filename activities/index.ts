import { deliveryId, type HeraldActivities } from '../workflows/contract.ts';
import { deliver, type DeliverDeps } from './deliver.ts';

export type ActivityDeps = DeliverDeps;

/** The side effects workflows may ask for, bound to their dependencies. */
export function createActivities(deps: ActivityDeps): HeraldActivities {
  return {
    deliver: (input) => deliver(deps, input),
    async recordCancelled({ tenant, eventId, endpointId }) {
      const id = deliveryId(tenant, eventId, endpointId);
      await deps.log.markCancelled(id);
      await deps.traffic.wakeNextInLine(endpointId, id);
    },
    pruneDeliveryLog: ({ retentionMs }) => deps.log.prune(retentionMs),
  };
}
