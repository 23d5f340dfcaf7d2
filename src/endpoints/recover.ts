import type { DeliveryLog } from '../storage/deliveryLog.ts';
import type { HeraldTemporal } from '../temporal/heraldTemporal.ts';
import type { Endpoint } from './store.ts';
import { subscriptionFor } from './subscription.ts';

export interface ReplayDeps {
  log: Pick<DeliveryLog, 'markReplaying' | 'list'>;
  temporal: Pick<HeraldTemporal, 'replay'>;
}

/** Marks the delivery pending, then sends it again with a fresh budget under the endpoint's current policy. */
export async function replayDelivery(deps: ReplayDeps, id: string, endpoint: Endpoint): Promise<'replayed' | 'not-found'> {
  await deps.log.markReplaying(id);
  return deps.temporal.replay(id, subscriptionFor(endpoint));
}

/** The endpoint's dead letters since `since` (of `tenant`, or of every tenant when null), at most `limit`: what a recover replays. */
export async function deadLettersSince(deps: ReplayDeps, endpoint: Endpoint, filter: { tenant: string | null; since: Date; limit: number }): Promise<string[]> {
  const failed = await deps.log.list({ tenant: filter.tenant, endpointId: endpoint.id, status: 'failed', since: filter.since }, { limit: filter.limit });
  return failed.data.map((delivery) => delivery.id);
}
