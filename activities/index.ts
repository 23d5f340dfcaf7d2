import { deliveryId } from '../workflows/contract.ts';
import { deliver, type DeliverDeps } from './deliver.ts';

export type ActivityDeps = DeliverDeps;

/** The side effects workflows may ask for, bound to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    deliver: (input: Parameters<typeof deliver>[1]) => deliver(deps, input),
    /** The workflow stopped a delivery on a `cancel` signal; behind it in a FIFO line, the next goes. */
    async recordCancelled({ tenant, eventId, endpointId }: { tenant: string; eventId: string; endpointId: string }): Promise<void> {
      const id = deliveryId(tenant, eventId, endpointId);
      await deps.log.markCancelled(id);
      await deps.traffic.wakeNextInLine(endpointId, id);
    },
    /** Run daily by a Temporal Schedule. */
    pruneDeliveryLog: ({ retentionMs }: { retentionMs: number }) => deps.log.prune(retentionMs),
  };
}

export type HeraldActivities = ReturnType<typeof createActivities>;
