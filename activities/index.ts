import { Context } from '@temporalio/activity';
import { deliveryId, type HeraldActivities } from '../workflows/contract.ts';
import type { AuditLog } from '../src/storage/auditLog.ts';
import type { Db } from '../src/storage/db.ts';
import type { TenantDeletions } from '../src/storage/tenantDeletions.ts';
import type { HeraldTemporal } from '../src/temporal/heraldTemporal.ts';
import { enforcePayloadRetention, type RetentionDeps } from '../src/events/retention.ts';
import { deliver, type DeliverDeps, react } from './deliver.ts';

export type ActivityDeps = DeliverDeps & RetentionDeps & {
  db: Pick<Db, 'maintain'>;
  audit: Pick<AuditLog, 'prune'>;
  deletions: TenantDeletions;
  temporal: Pick<HeraldTemporal, 'deleteTenantWorkflows'>;
};

/** Runs `work`, telling Temporal every 10 s that this worker is alive: a long statement or listing sends no heartbeat of its own. */
async function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const beat = setInterval(() => context.heartbeat(), 10_000);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}

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
    async pruneDeliveryLog(settings) {
      const pruned = { ...(await deps.log.prune(settings)), auditRecords: await deps.audit.prune(settings.auditRetentionMs) };
      await deps.db.maintain();
      return pruned;
    },
    enforcePayloadRetention: ({ payloadRetentionMs }) => heartbeating(() => enforcePayloadRetention(deps, payloadRetentionMs)),
    removeTenantRecords: (tenant) => deps.deletions.removeRecords(tenant),
    deleteTenantWorkflows: (tenant) => deps.temporal.deleteTenantWorkflows(tenant, {
      deleted: async () => {
        await deps.deletions.countWorkflowExecutions(tenant, 1);
        Context.current().heartbeat();
      },
      alive: () => Context.current().heartbeat(),
    }),
    finishTenantDeletion: (tenant) => deps.deletions.finish(tenant),
  };
}
