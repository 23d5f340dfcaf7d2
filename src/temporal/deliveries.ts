import { type Client, WorkflowIdReusePolicy, WorkflowNotFoundError } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import type { deliveryWorkflow } from '../../workflows/delivery.ts';
import { deliverySearchAttributes, HeraldAttempts, HeraldEndpointId, HeraldEventType, HeraldStatus } from '../../workflows/searchAttributes.ts';
import { attemptsMade, type DeliveryInput, type DeliveryStatus, type DeliveryStatusName } from '../../workflows/types.ts';

export interface DeliverySummary {
  id: string;
  eventId: string;
  endpointId: string;
  eventType: string;
  status: DeliveryStatusName;
  attempts: number;
  startedAt: string;
  closedAt: string | null;
}

export interface DeliveryFilter {
  tenant: string;
  status?: DeliveryStatusName;
  endpointId?: string;
  eventType?: string;
  /** Deliveries started at or after this instant. */
  since?: Date;
}

/** `delivery:<tenant>:<eventId>:<endpointId>`; ids never contain colons. */
export function parseDeliveryId(id: string): { tenant: string; eventId: string; endpointId: string } | undefined {
  const [kind, tenant, eventId, endpointId, ...rest] = id.split(':');
  if (kind !== 'delivery' || !tenant || !eventId || !endpointId || rest.length) return undefined;
  return { tenant, eventId, endpointId };
}

/** Delivery workflows as the API sees them: read through queries and visibility, driven by signals. */
export class Deliveries {
  constructor(private readonly client: Client, private readonly taskQueue: string) {}

  /** The attempt log and state; a closed delivery answers too (its worker replays the history). */
  async status(id: string): Promise<DeliveryStatus | undefined> {
    try {
      return await this.client.workflow.getHandle(id).query<DeliveryStatus>('status');
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /** From Temporal visibility, newest first: what the Web UI's workflow list shows. */
  async list(filter: DeliveryFilter, limit: number): Promise<DeliverySummary[]> {
    // Values come validated (identifiers, enums, ISO dates): nothing here needs quoting beyond '…'.
    const clauses = [
      `WorkflowType = 'deliveryWorkflow'`,
      `ExecutionStatus != 'ContinuedAsNew'`,
      `HeraldTenant = '${filter.tenant}'`,
      filter.status && `HeraldStatus = '${filter.status}'`,
      filter.endpointId && `HeraldEndpointId = '${filter.endpointId}'`,
      filter.eventType && `HeraldEventType = '${filter.eventType}'`,
      filter.since && `StartTime >= '${filter.since.toISOString()}'`,
    ].filter(Boolean);
    const summaries: DeliverySummary[] = [];
    for await (const execution of this.client.workflow.list({ query: clauses.join(' AND '), pageSize: Math.min(limit, 1000) })) {
      const attributes = execution.typedSearchAttributes;
      summaries.push({
        id: execution.workflowId,
        eventId: parseDeliveryId(execution.workflowId)?.eventId ?? '',
        endpointId: attributes.get(HeraldEndpointId) ?? '',
        eventType: attributes.get(HeraldEventType) ?? '',
        status: (attributes.get(HeraldStatus) ?? 'pending') as DeliveryStatusName,
        attempts: attributes.get(HeraldAttempts) ?? 0,
        startedAt: execution.startTime.toISOString(),
        closedAt: execution.closeTime?.toISOString() ?? null,
      });
      if (summaries.length >= limit) break;
    }
    return summaries;
  }

  /**
   * Sends the delivery again with a fresh attempt budget, whatever its state: a running one
   * (retrying or parked as a dead letter) is signalled; a closed one is started again under the
   * same id from its own recorded input, keeping its attempt log and `webhook-id`.
   */
  async replay(id: string): Promise<'replayed' | 'not-found'> {
    const handle = this.client.workflow.getHandle<typeof deliveryWorkflow>(id);
    let running: boolean;
    try {
      running = (await handle.describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'not-found';
      throw err;
    }
    if (running) {
      await handle.signal('replay');
      return 'replayed';
    }
    const [input, previous] = await Promise.all([this.startInput(id), handle.query<DeliveryStatus>('status')]);
    const { event, subscription } = input;
    await this.client.workflow.signalWithStart<typeof deliveryWorkflow, []>('deliveryWorkflow', {
      workflowId: id,
      taskQueue: this.taskQueue,
      args: [{ ...input, carried: { attempts: previous.attempts } }],
      signal: 'replay',
      signalArgs: [],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      staticSummary: `${event.type} → ${subscription.host} (replay)`,
      typedSearchAttributes: deliverySearchAttributes(event.tenant, event.type, subscription.endpointId, attemptsMade(previous)),
    });
    return 'replayed';
  }

  /** The input the latest run of a workflow was started with, from its history. */
  async startInput<T = DeliveryInput>(workflowId: string): Promise<T> {
    const { history } = await this.client.workflowService.getWorkflowExecutionHistory({
      namespace: this.client.options.namespace,
      execution: { workflowId },
      maximumPageSize: 1,
    });
    const payloads = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
    return decodeFromPayloadsAtIndex<T>(this.client.options.loadedDataConverter, 0, payloads);
  }
}
