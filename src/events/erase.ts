import type { DeliveryLog } from '../storage/deliveryLog.ts';
import type { HeraldTemporal } from '../temporal/heraldTemporal.ts';

/** What the steps of an erasure need. */
export interface ErasureStepsDeps {
  temporal: Pick<HeraldTemporal, 'eraseEvent'>;
  log: Pick<DeliveryLog, 'markErased' | 'eraseAttempts'>;
}

export interface EraseDeps {
  temporal: Pick<HeraldTemporal, 'eraseEvent' | 'isRunning'>;
  log: Pick<DeliveryLog, 'markErased' | 'eraseAttempts' | 'isErased' | 'list'>;
}

/** What one erasure removed; a second erasure of the same event removes nothing more. */
export interface Erasure {
  eventId: string;
  /** When the event was first erased; its id is a duplicate until the idempotency window after it ends. */
  erasedAt: string;
  removed: {
    /** Executions of the event's workflow and of its parts deleted from Temporal (running ones terminated). */
    workflowExecutions: number;
    /** Deliveries that were still pending or retrying, now cancelled. */
    deliveriesCancelled: number;
    /** Attempts whose response excerpt was blanked. */
    attemptExcerpts: number;
  };
}

/**
 * Erases an event on request: the tombstone first (from then on its id is a duplicate, and an attempt still
 * under way keeps no excerpt), then its workflow executions (nothing more is attempted), then what the attempt
 * log kept of its data (eraseEverywhere). Ids, times and status codes stay. Undefined when Herald never had the event.
 * Every step may run again: an erasure that stopped midway completes when asked again.
 */
export async function eraseEvent(deps: EraseDeps, tenant: string, eventId: string): Promise<Erasure | undefined> {
  const [erased, logged, running] = await Promise.all([
    deps.log.isErased(tenant, eventId),
    deps.log.list({ tenant, eventId }, { limit: 1 }),
    deps.temporal.isRunning(tenant, eventId),
  ]);
  if (!erased && logged.data.length === 0 && running === undefined) return undefined;
  return { eventId, ...(await eraseEverywhere(deps, tenant, eventId)) };
}

/** The steps of an erasure, in their order; payload retention takes them for each expired event too. */
export async function eraseEverywhere(deps: ErasureStepsDeps, tenant: string, eventId: string): Promise<Omit<Erasure, 'eventId'>> {
  const { erasedAt } = await deps.log.markErased(tenant, eventId);
  const { workflowExecutions } = await deps.temporal.eraseEvent(tenant, eventId);
  const { deliveriesCancelled, attemptExcerpts } = await deps.log.eraseAttempts(tenant, eventId);
  return { erasedAt, removed: { workflowExecutions, deliveriesCancelled, attemptExcerpts } };
}
