import { ParentClosePolicy, proxyActivities, proxyLocalActivities, startChild, WorkflowIdReusePolicy } from '@temporalio/workflow';
import type { HeraldActivities } from '../activities/index.ts';
import { deliveryWorkflow } from './delivery.ts';
import { deliverySearchAttributes } from './searchAttributes.ts';
import { deliveryWorkflowId, type EventWorkflowOptions, type HeraldEvent } from './types.ts';

const lookupOptions = { startToCloseTimeout: '30s', retry: { initialInterval: '1s', maximumInterval: '30s' } } as const;

/** One ingested event: find who subscribes, start one independent delivery per endpoint. */
export async function eventWorkflow(event: HeraldEvent, options: EventWorkflowOptions): Promise<{ deliveryIds: string[] }> {
  const proxy = (options.localActivities ?? 'none') === 'none' ? proxyActivities : proxyLocalActivities;
  const { resolveSubscriptions } = proxy<HeraldActivities>(lookupOptions);
  const subscriptions = await resolveSubscriptions({ tenant: event.tenant, eventType: event.type });
  const deliveryIds = await Promise.all(
    subscriptions.map(async (subscription) => {
      const workflowId = deliveryWorkflowId(event.tenant, event.id, subscription.endpointId);
      await startChild(deliveryWorkflow, {
        workflowId,
        args: [{ event, subscription, ...options }],
        // Deliveries outlive the event workflow: each is parked, replayed and cancelled on its own.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        staticSummary: `${event.type} → ${subscription.host}`,
        typedSearchAttributes: deliverySearchAttributes(event.tenant, event.type, subscription.endpointId, 0),
      });
      return workflowId;
    }),
  );
  return { deliveryIds };
}
