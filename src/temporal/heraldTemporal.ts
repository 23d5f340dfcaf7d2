import {
  type Client, isGrpcServiceError, ScheduleAlreadyRunning, ScheduleOverlapPolicy, WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy, WorkflowNotFoundError,
} from '@temporalio/client';
import { fromPayloadsAtIndex } from '@temporalio/common';
import {
  cancelSignal, deliveryId, type DeliverySignal, eventRef, eventSearchAttributes, eventWorkflowId, type EventWorkflowInput, type HeraldEvent,
  type PruneSettings, replaySignal, retryNowSignal, type Subscription, tenantDeletionWorkflowId, turnSignal,
} from '../../workflows/contract.ts';
import type { deleteTenantWorkflow } from '../../workflows/deleteTenant.ts';
import type { eventWorkflow } from '../../workflows/event.ts';
import type { pruneDeliveryLogWorkflow } from '../../workflows/prune.ts';

export { deliveryId, eventWorkflowId, type HeraldEvent, type Subscription };

export type EventStatus = 'scheduled' | 'delivering' | 'cancelled' | 'settled';

/** `delivery:<tenant>:<eventId>:<endpointId>`; undefined for anything else. */
export function parseDeliveryId(id: string): { tenant: string; eventId: string; endpointId: string } | undefined {
  const [kind, tenant, eventId, endpointId, ...rest] = id.split(':');
  if (kind !== 'delivery' || !tenant || !eventId || !endpointId || rest.length) return undefined;
  return { tenant, eventId, endpointId };
}

const signals = { replay: replaySignal, retryNow: retryNowSignal, cancel: cancelSignal, turn: turnSignal };
export type DeliverySignalName = keyof typeof signals;

const GRPC_NOT_FOUND = 5;
const PRUNE_SCHEDULE_ID = 'herald-prune-delivery-log';
/** Large events a process keeps at hand, for their deliveries, which carry no copy of the data. */
const EVENT_CACHE_SIZE = 16;
/** How long one is kept at most: event data must not outlive its erasure or retention in a process's memory (a miss costs one history read). */
const EVENT_CACHE_MS = 10 * 60_000;
/** How long a pass of a tenant's deletion waits for the server to carry out its deletions before the next pass. */
const TENANT_PASS_DRAIN_MS = 60_000;

export interface HeraldTemporalOptions {
  taskQueue: string;
  deadLetterRetentionMs: number;
  /** Hand an event's first workflow task straight to this process's worker (needs a shared NativeConnection). */
  eagerStart?: boolean;
  /** Each delivery's first attempt as a local activity. */
  firstAttemptLocal?: boolean;
}

/**
 * Herald's one door to Temporal: every workflow id, search attribute and signal the API, the CLI and
 * the activities use goes through here.
 */
export class HeraldTemporal {
  private readonly events = new Map<string, HeraldEvent>();

  constructor(readonly client: Client, private readonly options: HeraldTemporalOptions) {}

  /**
   * Starts the event's workflow; `duplicate` when the id was seen within the namespace's retention.
   * `deadLetterRetentionMs` overrides the configured retention (test sends park briefly). `startDelayMs` is
   * Temporal's delayed start (scheduled delivery): the execution exists at once (its id taken), its first
   * workflow task comes when due, so the wait holds no timer and no worker.
   */
  async ingest(
    event: HeraldEvent, subscriptions: Subscription[], deadlineMs: number, options: { deadLetterRetentionMs?: number; startDelayMs?: number } = {},
  ): Promise<'accepted' | 'duplicate'> {
    const workflowId = eventWorkflowId(event.tenant, event.id);
    try {
      await this.client.withDeadline(Date.now() + deadlineMs, () =>
        this.client.workflow.start<typeof eventWorkflow>('eventWorkflow', {
          ...this.startOptions(event, subscriptions, options.deadLetterRetentionMs),
          ...(options.startDelayMs ? { startDelay: options.startDelayMs } : { requestEagerStart: this.options.eagerStart }),
          // An id seen within the namespace retention is a duplicate, running or closed.
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'duplicate';
      throw err;
    }
    this.remember(workflowId, event);
    return 'accepted';
  }

  /**
   * Sends one delivery again with a fresh attempt budget, whatever its state: a running event workflow
   * is signalled; a closed one is started again with only this delivery, keeping its `webhook-id`.
   */
  async replay(id: string, subscription: Subscription): Promise<'replayed' | 'not-found'> {
    const parsed = parseDeliveryId(id);
    if (!parsed) return 'not-found';
    const signal = { endpointId: parsed.endpointId, subscription };
    if ((await this.signal(parsed.tenant, parsed.eventId, 'replay', signal)) === 'signalled') return 'replayed';
    const event = await this.event(parsed.tenant, parsed.eventId);
    if (!event) return 'not-found';
    try {
      await this.client.workflow.start<typeof eventWorkflow>('eventWorkflow', {
        ...this.startOptions(event, [subscription]),
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      });
    } catch (err) {
      // Started again meanwhile (another replay): that run takes the signal.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      await this.signal(parsed.tenant, parsed.eventId, 'replay', signal);
    }
    return 'replayed';
  }

  /** Signals a running event workflow; `closed` when it is not running (or never was). */
  async signal(tenant: string, eventId: string, name: DeliverySignalName, signal: DeliverySignal): Promise<'signalled' | 'closed'> {
    try {
      await this.client.workflow.getHandle(eventWorkflowId(tenant, eventId)).signal(signals[name], signal);
      return 'signalled';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'closed';
      throw err;
    }
  }

  /** Whether the server answers within the deadline. */
  reachable(deadlineMs: number): Promise<boolean> {
    return this.client.withDeadline(Date.now() + deadlineMs, () => this.client.workflowService.getSystemInfo({})).then(() => true, () => false);
  }

  /** Whether the event's workflow still runs (delivering or holding dead letters); undefined when Temporal no longer has it. */
  async isRunning(tenant: string, eventId: string): Promise<boolean | undefined> {
    try {
      return (await this.client.workflow.getHandle(eventWorkflowId(tenant, eventId)).describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * Where the event's workflow stands: `scheduled` (a delayed start not yet due: no workflow task yet, with
   * `deliverAt`), `delivering` (running, dead letters held included), `cancelled` (terminated: a scheduled event
   * cancelled, or an operator's terminate), `settled`; undefined when Temporal no longer has it.
   */
  async eventState(tenant: string, eventId: string): Promise<{ status: EventStatus; deliverAt?: string } | undefined> {
    let described;
    try {
      described = await this.client.workflow.getHandle(eventWorkflowId(tenant, eventId)).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
    const { status, startTime, executionTime, historyLength } = described;
    const delayed = executionTime !== undefined && executionTime > startTime;
    const deliverAt = delayed ? { deliverAt: executionTime.toISOString() } : {};
    // A delayed start's history holds its start event alone until it is due (its first workflow task then comes); a
    // signal sent meanwhile is held in the history too, and then the due time tells.
    const waiting = delayed && (historyLength <= 1 || executionTime.getTime() > Date.now());
    if (status.name === 'RUNNING') return { status: waiting ? 'scheduled' : 'delivering', ...deliverAt };
    return { status: status.name === 'TERMINATED' ? 'cancelled' : 'settled', ...deliverAt };
  }

  /**
   * Cancels a scheduled event before it is due: its workflow is terminated while it has no workflow task yet, so
   * no attempt was made. `started` once it is due (or was never scheduled); `closed` when it no longer runs.
   */
  async cancelScheduled(tenant: string, eventId: string): Promise<'cancelled' | 'started' | 'closed' | 'not-found'> {
    const state = await this.eventState(tenant, eventId);
    if (!state) return 'not-found';
    if (state.status === 'delivering') return 'started';
    if (state.status !== 'scheduled') return 'closed';
    await this.client.workflow.getHandle(eventWorkflowId(tenant, eventId)).terminate('cancelled before it was due (POST /v1/events/:id/cancel)');
    return 'cancelled';
  }

  /** The event as ingested, from its workflow's input (large ones cached: their attempts read them here). */
  async event(tenant: string, eventId: string): Promise<HeraldEvent | undefined> {
    return this.eventOf(eventWorkflowId(tenant, eventId));
  }

  async eventOf(workflowId: string): Promise<HeraldEvent | undefined> {
    const cached = this.events.get(workflowId);
    if (cached) return cached;
    const { namespace, loadedDataConverter: converter } = this.client.options;
    let payloads;
    try {
      const { history } = await this.client.workflowService.getWorkflowExecutionHistory({ namespace, execution: { workflowId }, maximumPageSize: 1 });
      payloads = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
    } catch (err) {
      if (isGrpcServiceError(err) && err.code === GRPC_NOT_FOUND) return undefined;
      throw err;
    }
    if (!payloads) return undefined;
    const context = { type: 'workflow' as const, namespace, workflowId };
    for (const codec of [...converter.payloadCodecs].reverse()) payloads = await codec.decode(payloads, context);
    // The event workflow itself (not a part of it) is started with the data.
    const event = fromPayloadsAtIndex<EventWorkflowInput>(converter.payloadConverter, 0, payloads, context).event as HeraldEvent;
    this.remember(workflowId, event);
    return event;
  }

  /**
   * Erases the event from Temporal: every execution of its workflow and of its parts (each run: continue-as-new
   * and replays make more than one) is deleted, running ones terminated first, so nothing more is attempted.
   * Answers how many executions were deleted; none when Temporal no longer has it.
   */
  async eraseEvent(tenant: string, eventId: string): Promise<{ workflowExecutions: number }> {
    const root = eventWorkflowId(tenant, eventId);
    this.events.delete(root);
    const remove = (workflowId: string, runId?: string) => this.deleteExecution(workflowId, runId);
    // The current run first, by id alone: visibility may not list a workflow started a moment ago. Deleting a running
    // workflow terminates it, and its parts (children) with it.
    let deleted = await remove(root);
    // Ids are letters, digits and . _ ~ - (src/fields.ts): nothing to escape in the query.
    for await (const execution of this.client.workflow.list({ query: `WorkflowId = '${root}' OR WorkflowId STARTS_WITH '${root}/'` })) {
      if (await this.exists(execution.workflowId, execution.runId)) deleted += await remove(execution.workflowId, execution.runId);
    }
    // A run that closes by itself just as its deletion arrives can outlive it (the terminate/delete race Temporal
    // documents, temporalio/temporal#2819): asked again until Temporal has no history of it, a few seconds at most.
    for (let asked = 0; asked < 10 && await this.exists(root); asked++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await remove(root);
    }
    return { workflowExecutions: deleted };
  }

  /**
   * The events whose workflow (or a part of it) Herald started before `cutoff`, of one tenant or of every tenant
   * but some, as Temporal's visibility lists them (running or closed, within the namespace's retention).
   */
  async eventsStartedBefore(scope: { tenant: string } | { exceptTenants: string[] }, cutoff: Date): Promise<{ tenant: string; eventId: string }[]> {
    // Ids are letters, digits and . _ ~ - (src/fields.ts): nothing to escape in the query.
    const tenants = 'tenant' in scope ? `HeraldTenant = '${scope.tenant}'`
      : scope.exceptTenants.length ? `HeraldTenant NOT IN (${scope.exceptTenants.map((t) => `'${t}'`).join(', ')})` : undefined;
    const query = [`WorkflowType = 'eventWorkflow'`, `StartTime < '${cutoff.toISOString()}'`, tenants].filter(Boolean).join(' AND ');
    const events = new Map<string, { tenant: string; eventId: string }>();
    for await (const execution of this.client.workflow.list({ query })) {
      const [, tenant, eventId] = /^event:([^:]+):([^:/]+)(\/\d+)?$/.exec(execution.workflowId) ?? [];
      if (tenant && eventId) events.set(eventWorkflowId(tenant, eventId), { tenant, eventId });
    }
    return [...events.values()];
  }

  /**
   * One pass over every workflow execution of the tenant (by its `HeraldTenant` search attribute, running or
   * closed; visibility pages through them): each is deleted, a running one terminated first. `progress.deleted` is
   * told of each one actually deleted, so the caller can count; `progress.alive` while the pass waits. Answers how
   * many this pass deleted: a pass that deletes none means visibility lists none left.
   */
  async deleteTenantWorkflows(tenant: string, progress: { deleted(): Promise<void>; alive(): void }): Promise<number> {
    for (const workflowId of this.events.keys()) if (workflowId.startsWith(eventWorkflowId(tenant, ''))) this.events.delete(workflowId);
    const deleted: { workflowId: string; runId: string }[] = [];
    // Ids are letters, digits and . _ ~ - (src/fields.ts): nothing to escape in the query.
    for await (const { workflowId, runId } of this.client.workflow.list({ query: `HeraldTenant = '${tenant}'` })) {
      // Visibility lists a deleted execution for a while after its history is gone: not deleted (nor counted) twice.
      if (!(await this.exists(workflowId, runId)) || !(await this.deleteExecution(workflowId, runId))) continue;
      deleted.push({ workflowId, runId });
      await progress.deleted();
    }
    // The server deletes asynchronously: the next pass must not find (and count) this one's executions again.
    const waitUntil = Date.now() + TENANT_PASS_DRAIN_MS;
    for (const { workflowId, runId } of deleted) {
      while (Date.now() < waitUntil && await this.exists(workflowId, runId)) {
        progress.alive();
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    return deleted.length;
  }

  /** Starts the tenant's deletion workflow, or finds the one already running (or done). */
  async startTenantDeletion(tenant: string): Promise<void> {
    await this.client.workflow.start<typeof deleteTenantWorkflow>('deleteTenantWorkflow', {
      workflowId: tenantDeletionWorkflowId(tenant),
      taskQueue: this.options.taskQueue,
      args: [tenant],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      // Asked again after it finished, it runs again (a no-op that finds nothing left).
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
  }

  /** Creates the daily Schedule that prunes the attempt log, or leaves the existing one. */
  async schedulePruning(settings: PruneSettings): Promise<void> {
    try {
      await this.client.schedule.create({
        scheduleId: PRUNE_SCHEDULE_ID,
        spec: { intervals: [{ every: '1d' }] },
        policies: { overlap: ScheduleOverlapPolicy.SKIP },
        action: {
          type: 'startWorkflow',
          workflowType: 'pruneDeliveryLogWorkflow' satisfies (typeof pruneDeliveryLogWorkflow)['name'],
          taskQueue: this.options.taskQueue,
          args: [settings],
        },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      // Keep the schedule, but follow a changed retention.
      await this.client.schedule.getHandle(PRUNE_SCHEDULE_ID).update((previous) => ({
        ...previous,
        action: { ...previous.action, args: [settings] } as typeof previous.action,
      }));
    }
  }

  /** Whether Temporal still holds the execution (the current run when no `runId`): its deletion has not yet run. */
  private async exists(workflowId: string, runId?: string): Promise<boolean> {
    try {
      await this.client.workflowService.describeWorkflowExecution({ namespace: this.client.options.namespace, execution: { workflowId, runId } });
      return true;
    } catch (err) {
      if (isGrpcServiceError(err) && err.code === GRPC_NOT_FOUND) return false;
      throw err;
    }
  }

  /** 1 when the execution was deleted; 0 when it was already gone (deleted before, or never there). */
  private async deleteExecution(workflowId: string, runId?: string): Promise<number> {
    try {
      await this.client.workflowService.deleteWorkflowExecution({ namespace: this.client.options.namespace, workflowExecution: { workflowId, runId } });
      return 1;
    } catch (err) {
      if (isGrpcServiceError(err) && err.code === GRPC_NOT_FOUND) return 0;
      throw err;
    }
  }

  private startOptions(event: HeraldEvent, subscriptions: Subscription[], deadLetterRetentionMs = this.options.deadLetterRetentionMs) {
    const args: [EventWorkflowInput] = [{ event, subscriptions, deadLetterRetentionMs, ...(this.options.firstAttemptLocal && { firstAttemptLocal: true }) }];
    const hosts = [...new Set(subscriptions.map((s) => s.host))];
    return {
      workflowId: eventWorkflowId(event.tenant, event.id),
      taskQueue: this.options.taskQueue,
      args,
      staticSummary: `${event.type} → ${hosts.length === 1 ? hosts[0] : `${subscriptions.length} endpoints`}`,
      typedSearchAttributes: eventSearchAttributes(event, subscriptions),
    };
  }

  private remember(workflowId: string, event: HeraldEvent) {
    if (eventRef(event).data !== undefined) return; // its deliveries carry it
    this.events.delete(workflowId);
    this.events.set(workflowId, event);
    if (this.events.size > EVENT_CACHE_SIZE) this.events.delete(this.events.keys().next().value!);
    setTimeout(() => this.events.get(workflowId) === event && this.events.delete(workflowId), EVENT_CACHE_MS).unref();
  }
}
