import { proxyActivities } from '@temporalio/workflow';
import type { HeraldActivities, PruneSettings } from './contract.ts';

const { pruneDeliveryLog } = proxyActivities<HeraldActivities>({ startToCloseTimeout: '10m' });
// A day's erasures can outlast ten minutes, and each run starts where the last one stopped (what it erased is no
// longer listed): an hour per try, and heartbeats so that a crashed worker's try is taken up again within a minute.
const { enforcePayloadRetention } = proxyActivities<HeraldActivities>({ startToCloseTimeout: '1h', heartbeatTimeout: '1m' });

/**
 * Run daily by a Temporal Schedule: erases event data past each tenant's payload retention, then drops attempt-log
 * rows older than the log's retention and expired tombstones of erased events.
 */
export async function pruneDeliveryLogWorkflow(settings: PruneSettings) {
  const payloads = await enforcePayloadRetention(settings);
  return { payloads, ...(await pruneDeliveryLog(settings)) };
}
