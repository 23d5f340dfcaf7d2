import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import { compileRetryPolicy, type RetryPolicy } from '../../src/delivery/retryPolicy.ts';
import { subscriptionFor } from '../../src/endpoints/subscription.ts';
import { generateSecret } from '../../src/signing/index.ts';
import type { DeliveryDetail } from '../../src/storage/deliveryLog.ts';
import type { DeliveryStatusName } from '../../workflows/contract.ts';
import type { NewEndpoint } from '../../src/endpoints/store.ts';
import { deliveryId, eventWorkflowId } from '../../src/temporal/heraldTemporal.ts';
import type { ReceivedRequest, Receiver, Reply, Responder } from './receiver.ts';
import type { TimeSkippingHerald } from './timeSkipping.ts';

let tenants = 0;

export interface StartedDelivery {
  /** The event workflow that runs the delivery. */
  handle: WorkflowHandle;
  deliveryId: string;
  tenant: string;
  endpointId: string;
  /** The receiver path this delivery posts to. */
  path: string;
  secret: string;
}

/**
 * Registers an endpoint in a tenant of its own (so tests never see each other's
 * deliveries) and ingests one event for it, as the API does.
 */
export async function deliverOneEvent(
  herald: TimeSkippingHerald,
  receiver: Receiver,
  options: { retryPolicy: RetryPolicy; replies: Reply[] | Responder; endpoint?: Partial<NewEndpoint>; data?: unknown; startDelayMs?: number },
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
  const event = { tenant, id: 'evt_1', type: 'order.submitted', occurredAt: new Date().toISOString(), data: options.data ?? { tenant } };
  const id = deliveryId(tenant, event.id, endpoint.id);
  assert.equal(await herald.temporal.ingest(event, [subscriptionFor(endpoint)], 10_000, { startDelayMs: options.startDelayMs }), 'accepted');
  await herald.log.registerPending(event, [{ id, endpointId: endpoint.id }]);
  return { handle: herald.env.client.workflow.getHandle(eventWorkflowId(tenant, event.id)), deliveryId: id, tenant, endpointId: endpoint.id, path, secret };
}

/** The delivery as the API answers it, from the attempt log. */
export async function deliveryOf(herald: TimeSkippingHerald, started: StartedDelivery): Promise<DeliveryDetail> {
  const detail = await herald.log.get(started.tenant, started.deliveryId);
  assert.ok(detail, `no delivery ${started.deliveryId}`);
  return detail;
}

/** Polls the attempt log (real time: the test server does not skip meanwhile) until the delivery reaches `wanted`. */
export async function waitForStatus(herald: TimeSkippingHerald, started: StartedDelivery, wanted: DeliveryStatusName, timeoutMs = 20_000): Promise<DeliveryDetail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const detail = await deliveryOf(herald, started);
    if (detail.status === wanted) return detail;
    if (Date.now() > deadline) throw new Error(`delivery stayed ${detail.status}, never ${wanted}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Milliseconds between consecutive requests, by the receiver's clock (workflow time, with the test server's). */
export function gapsBetweenAttempts(requests: ReceivedRequest[]): number[] {
  return requests.slice(1).map((r, i) => r.at - requests[i]!.at);
}

/**
 * Each gap is the scheduled wait (± `jitter` of it) plus the previous attempt's own (real, short)
 * duration. The receiver stamps an arrival by asking the server's clock, a round trip that a loaded
 * machine can stretch, so a gap may read up to 100 ms short (seen: 5,991 ms for 6,000).
 */
export function assertGaps(requests: ReceivedRequest[], expected: number[], jitter = 0) {
  const gaps = gapsBetweenAttempts(requests);
  assert.equal(gaps.length, expected.length, `gaps ${gaps} vs ${expected}`);
  gaps.forEach((gap, i) => {
    const [least, most] = [expected[i]! * (1 - jitter) - 100, expected[i]! * (1 + jitter) + 3_000];
    assert.ok(gap >= least && gap < most, `gap ${i + 1}: ${gap} ms, expected ${expected[i]} ms${jitter ? ` ± ${jitter * 100} %` : ''}`);
  });
}
