import { proxyActivities } from '@temporalio/workflow';
import type { HeraldActivities, PruneSettings } from './contract.ts';

const { pruneDeliveryLog, enforcePayloadRetention } = proxyActivities<HeraldActivities>({ startToCloseTimeout: '10m' });

/**
 * Run daily by a Temporal Schedule: erases event data past each tenant's payload retention, then drops attempt-log
 * rows older than the log's retention and expired tombstones of erased events.
 */
export async function pruneDeliveryLogWorkflow(settings: PruneSettings) {
  const payloads = await enforcePayloadRetention(settings);
  return { payloads, ...(await pruneDeliveryLog(settings)) };
}
