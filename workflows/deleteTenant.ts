import { proxyActivities, sleep } from '@temporalio/workflow';
import type { HeraldActivities } from './contract.ts';

const { removeTenantRecords, finishTenantDeletion } = proxyActivities<HeraldActivities>({ startToCloseTimeout: '10m' });
// A pass over thousands of executions takes long; its heartbeats tell a crashed worker from a slow one, so the pass
// starts again on another (or the restarted) worker within the heartbeat timeout.
const { deleteTenantWorkflows } = proxyActivities<HeraldActivities>({ startToCloseTimeout: '1h', heartbeatTimeout: '20s' });

/** Lets visibility catch up with the deletions of a pass before the next pass lists what is left. */
const VISIBILITY_LAG = '2s';

/**
 * Deletes a tenant (DELETE /v1/tenants/:id). Its records go first, keys and endpoints with them, so nothing more is
 * accepted or sent for it; then its workflow executions, pass after pass until visibility lists none; then the
 * records again, for what attempts under way wrote meanwhile. Every step runs again harmlessly after a crash.
 */
export async function deleteTenantWorkflow(tenant: string): Promise<void> {
  await removeTenantRecords(tenant);
  while ((await deleteTenantWorkflows(tenant)) > 0) await sleep(VISIBILITY_LAG);
  await removeTenantRecords(tenant);
  await finishTenantDeletion(tenant);
}
