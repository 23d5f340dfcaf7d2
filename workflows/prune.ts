import { proxyActivities } from '@temporalio/workflow';
import type { HeraldActivities } from './contract.ts';

const { pruneDeliveryLog } = proxyActivities<HeraldActivities>({ startToCloseTimeout: '10m' });

/** Run by a Temporal Schedule: drops attempt-log rows older than the log's retention. */
export async function pruneDeliveryLogWorkflow(retentionMs: number): Promise<{ attempts: number; deliveries: number }> {
  return pruneDeliveryLog({ retentionMs });
}
