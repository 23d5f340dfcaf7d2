import { proxyActivities } from '@temporalio/workflow';
import type { HeraldActivities, PruneSettings } from './contract.ts';

const { pruneDeliveryLog } = proxyActivities<HeraldActivities>({ startToCloseTimeout: '10m' });

/** Run by a Temporal Schedule: drops attempt-log rows older than the log's retention, and expired tombstones of erased events. */
export async function pruneDeliveryLogWorkflow(settings: PruneSettings): Promise<{ attempts: number; deliveries: number; tombstones: number }> {
  return pruneDeliveryLog(settings);
}
