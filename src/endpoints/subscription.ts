import type { Endpoint } from './store.ts';
import type { Subscription } from '../../workflows/contract.ts';
import { compileRetryPolicy, type RetryPolicy } from '../delivery/retryPolicy.ts';

/** What a delivery workflow carries about its endpoint: ids and policy, never secrets. */
export function subscriptionFor(endpoint: Endpoint, retryPolicy: RetryPolicy = endpoint.retryPolicy): Subscription {
  return {
    endpointId: endpoint.id,
    schedule: compileRetryPolicy(retryPolicy).schedule,
    timeoutMs: endpoint.timeoutMs,
    host: new URL(endpoint.url).host,
  };
}
