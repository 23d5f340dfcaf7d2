import { subscriptionFor } from '../src/delivery/subscription.ts';
import type { Logger } from '../src/logger.ts';
import type { DeliveryMetrics } from '../src/metrics/index.ts';
import type { Dispatcher } from 'undici';
import type { EndpointStore } from '../src/storage/endpoints.ts';
import type { Subscription } from '../workflows/types.ts';
import { attemptDelivery, type AttemptInput } from './attemptDelivery.ts';

export interface ActivityDeps {
  endpoints: EndpointStore;
  logger: Logger;
  metrics: DeliveryMetrics;
  /** The HTTP agent deliveries go through (deliveryDispatcher); fetch's default when unset (tests). */
  dispatcher?: Dispatcher;
}

/** The side effects workflows may ask for, bound to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    /** Enabled endpoints subscribed to the event type, without secrets. */
    async resolveSubscriptions({ tenant, eventType }: { tenant: string; eventType: string }): Promise<Subscription[]> {
      const endpoints = await deps.endpoints.subscribedTo(tenant, eventType);
      return endpoints.map((endpoint) => subscriptionFor(endpoint));
    },
    attemptDelivery: (input: AttemptInput) => attemptDelivery(deps, input),
  };
}

export type HeraldActivities = ReturnType<typeof createActivities>;
