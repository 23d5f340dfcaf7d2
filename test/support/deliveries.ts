import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import { compileRetryPolicy, type RetryPolicy } from '../../src/delivery/retryPolicy.ts';
import { generateSecret } from '../../src/signing/index.ts';
import type { NewEndpoint } from '../../src/storage/endpoints.ts';
import { createActivities } from '../../activities/index.ts';
import { deliveryWorkflow } from '../../workflows/delivery.ts';
import { HeraldStatus } from '../../workflows/searchAttributes.ts';
import { deliveryWorkflowId, type DeliveryStatus, type DeliveryStatusName } from '../../workflows/types.ts';
import type { Receiver, Reply, Responder } from './receiver.ts';
import type { TimeSkippingHerald } from './timeSkipping.ts';

let tenants = 0;

export interface StartedDelivery {
  handle: WorkflowHandle<typeof deliveryWorkflow>;
  /** The receiver path this delivery posts to. */
  path: string;
  secret: string;
}

/**
 * Registers an endpoint in a tenant of its own (so tests never see each other's
 * deliveries) and starts the delivery of one event to it.
 */
export async function deliverOneEvent(
  herald: TimeSkippingHerald,
  receiver: Receiver,
  options: { retryPolicy: RetryPolicy; replies: Reply[] | Responder; endpoint?: Partial<NewEndpoint>; deadLetterRetentionMs?: number },
): Promise<StartedDelivery> {
  const tenant = `t${++tenants}`;
  const path = `/${tenant}`;
  const secret = generateSecret();
  const endpoint = await herald.endpoints.create({
    tenant, url: Array.isArray(options.replies) ? receiver.script(path, ...options.replies) : receiver.respond(path, options.replies),
    description: '', eventTypes: ['*'],
    retryPolicy: options.retryPolicy,
    timeoutMs: compileRetryPolicy(options.retryPolicy).presetTimeoutMs ?? 15_000,
    format: 'standard', signature: { scheme: 'standard-webhooks' }, headers: {}, enabled: true, secret,
    ...options.endpoint,
  });
  const event = { tenant, id: 'evt_1', type: 'order.submitted', occurredAt: new Date().toISOString(), data: { tenant } };
  // The delivery workflow is started directly, with the subscription the real activity resolves:
  // a parent that starts an abandoned child stops the Java test server from skipping time for
  // later workflows (temporalio/sdk-typescript#1101). The event workflow's fan-out is tested on
  // the dev server instead.
  const [subscription] = await createActivities({ endpoints: herald.endpoints, logger: herald.logger, metrics: herald.metrics })
    .resolveSubscriptions({ tenant, eventType: event.type });
  const handle = await herald.env.client.workflow.start(deliveryWorkflow, {
    workflowId: deliveryWorkflowId(tenant, event.id, endpoint.id),
    taskQueue: herald.taskQueue,
    args: [{ event, subscription: subscription!, deadLetterRetentionMs: options.deadLetterRetentionMs ?? 3_600_000 }],
    typedSearchAttributes: [{ key: HeraldStatus, value: 'pending' }],
  });
  return { handle, path, secret };
}

/** Polls the `status` query (real time, no skipping) until the delivery reaches `wanted`. */
export async function waitForStatus(handle: StartedDelivery['handle'], wanted: DeliveryStatusName, timeoutMs = 20_000): Promise<DeliveryStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await handle.query<DeliveryStatus>('status');
    if (status.status === wanted) return status;
    if (Date.now() > deadline) throw new Error(`delivery stayed ${status.status}, never ${wanted}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Milliseconds of workflow time between consecutive attempts. */
export function gapsBetweenAttempts(status: DeliveryStatus): number[] {
  return status.attempts.slice(1).map((a, i) => Date.parse(a.startedAt) - Date.parse(status.attempts[i]!.startedAt));
}

/**
 * Each gap is the scheduled wait (± `jitter` of it) plus the previous attempt's own (real, short)
 * duration.
 */
export function assertGaps(status: DeliveryStatus, expected: number[], jitter = 0) {
  const gaps = gapsBetweenAttempts(status);
  assert.equal(gaps.length, expected.length, `gaps ${gaps} vs ${expected}`);
  gaps.forEach((gap, i) => {
    const [least, most] = [expected[i]! * (1 - jitter), expected[i]! * (1 + jitter) + 3_000];
    assert.ok(gap >= least && gap < most, `gap ${i + 1}: ${gap} ms, expected ${expected[i]} ms${jitter ? ` ± ${jitter * 100} %` : ''}`);
  });
}
