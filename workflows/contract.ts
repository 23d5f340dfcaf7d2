/**
 * What Herald's workflows and the rest of Herald agree on: inputs, workflow ids, signals, the query
 * and search attributes. Workflow code imports it directly; everything outside workflows/ reaches
 * Temporal through src/temporal/heraldTemporal.ts, which is the only other importer.
 */
import { defineSearchAttributeKey, type SearchAttributePair, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { RetrySchedule } from './retrySchedule.ts';

/** What was ingested. No secrets, no endpoint details: those stay in storage. */
export interface HeraldEvent {
  tenant: string;
  id: string;
  type: string;
  /** ISO-8601; when the event happened (or was accepted). */
  occurredAt: string;
  data: unknown;
  /** Endpoints that name channels receive only events in one of them; absent when none were given. */
  channels?: string[];
  /** Labels kept with the event's deliveries, to find them by (GET /v1/deliveries?tag=); absent when none were given. */
  tags?: string[];
}

/**
 * The event as a delivery carries it. `data` is left out when it is large: the attempt then reads
 * it from the event workflow's own input, so a large event is stored once, not once per endpoint.
 */
export type EventRef = Omit<HeraldEvent, 'data'> & { data?: unknown };

/** Event data up to this size travels with each delivery; larger data is read from the event workflow's input. */
const INLINE_DATA_CHARS = 64 * 1024;

/** The event as its deliveries carry it: without its data when that is large. Deterministic. */
export function eventRef(event: EventRef): EventRef {
  return JSON.stringify(event.data ?? null).length <= INLINE_DATA_CHARS ? event : { ...event, data: undefined };
}

/** More endpoints than this fan out to part workflows of the same kind, so no history outgrows Temporal's limits. */
export const MAX_DIRECT_DELIVERIES = 50;

/** A subscription as the workflow sees it: ids and policy, never secrets. */
export interface Subscription {
  endpointId: string;
  schedule: RetrySchedule;
  timeoutMs: number;
  /** Host of the endpoint URL, for human summaries in the Web UI. */
  host: string;
  /**
   * The endpoint's filter failed on this event at ingest (why): the delivery's first attempt fails for good
   * with it, so the event is held as a dead letter to replay rather than dropped or sent unasked.
   */
  filterFailure?: string;
}

export interface EventWorkflowInput {
  /** Without its data in the part workflows of a large event. */
  event: EventRef;
  /** Resolved by the API at ingest, so the common case costs no Temporal action to look them up. */
  subscriptions: Subscription[];
  deadLetterRetentionMs: number;
  /** Set on the part workflows of a large fan-out: the workflow whose input holds the event's data. */
  rootWorkflowId?: string;
  /** Carried across continue-as-new: dead letters and when their retention ends (epoch ms). */
  parkedUntil?: Record<string, number>;
  /** Each delivery's first attempt as a local activity (HERALD_FIRST_ATTEMPT_LOCAL); its retries are activities. */
  firstAttemptLocal?: boolean;
}

/** One delivery activity: each of its executions is one attempt; Temporal's retries are the schedule. */
export interface DeliveryActivityInput {
  event: EventRef;
  /** Where `event.data` is, when the event came without it. */
  eventWorkflowId: string;
  subscription: Subscription;
  /** Identifies one attempt budget (the first, or one a replay started): the schedule counts attempts within it. */
  budget: string;
}

/**
 * The activities workflows call, as the workflows see them: activities/index.ts implements them, so
 * workflow code needs nothing from activities/ (the samples' `import type * as activities`, turned around).
 */
export interface HeraldActivities {
  /** One attempt at one delivery; Temporal runs it again for each retry. */
  deliver(input: DeliveryActivityInput): Promise<{ attempt: number; statusCode: number }>;
  /** The workflow stopped a delivery on a `cancel` signal; behind it in a FIFO line, the next goes. */
  recordCancelled(delivery: { tenant: string; eventId: string; endpointId: string }): Promise<void>;
  /** Run daily by a Temporal Schedule. */
  pruneDeliveryLog(settings: PruneSettings): Promise<{ attempts: number; deliveries: number; tombstones: number; auditRecords: number }>;
  /** Run daily by the same Schedule: events and excerpts past their tenant's payload retention are erased. */
  enforcePayloadRetention(settings: PruneSettings): Promise<{ attemptExcerpts: number; events: number }>;
  /** A tenant's deletion: everything Herald's database keeps for it but the audit log; runs again harmlessly. */
  removeTenantRecords(tenant: string): Promise<void>;
  /** A tenant's deletion: one pass deleting its workflow executions, heartbeating; answers how many it deleted. */
  deleteTenantWorkflows(tenant: string): Promise<number>;
  finishTenantDeletion(tenant: string): Promise<void>;
}

export interface PruneSettings {
  /** The attempt log's retention (HERALD_ATTEMPT_LOG_RETENTION). */
  retentionMs: number;
  /** How long an erased event's id stays a duplicate (its tombstone is kept). */
  idempotencyWindowMs: number;
  /** Tenants without a payload retention of their own keep event data this long (HERALD_PAYLOAD_RETENTION). */
  payloadRetentionMs: number;
  /** Audit records older than this are dropped (HERALD_AUDIT_RETENTION). */
  auditRetentionMs: number;
}

/** A delivery's states, as the workflow, the attempt log and the API name them. */
export const deliveryStatusNames = ['pending', 'retrying', 'delivered', 'failed', 'cancelled'] as const;
export type DeliveryStatusName = (typeof deliveryStatusNames)[number];

/** Failure types the delivery activity throws, shown on a pending activity in the Web UI; `failed` and `queued` reach the workflow. */
export const deliveryFailureTypes = {
  /** A retryable outcome: Temporal retries after the delay the policy gave. */
  attemptFailed: 'DeliveryAttemptFailed',
  /** Not an attempt: traffic control held it (rate limit, 429 slow-down, open circuit); Temporal runs it again after the wait. */
  held: 'DeliveryHeld',
  /**
   * Not an attempt: a FIFO delivery behind another. The workflow waits for its `turn` signal (or the
   * recheck delay in the failure's details), so a turn never has to cancel a pending activity.
   */
  queued: 'DeliveryQueued',
  /** A final outcome (4xx, forbidden destination, deleted endpoint) or the budget spent: a dead letter. */
  failed: 'DeliveryFailed',
} as const;

/** Signals name one endpoint's delivery, or act on every delivery of the event they fit when none is given. */
export interface DeliverySignal {
  endpointId?: string;
  /** With `replay`: the endpoint's current subscription, so a delivery this run no longer holds can start again. */
  subscription?: Subscription;
}

/** Send again with a fresh attempt budget, whatever the delivery's state. */
export const replaySignal = defineSignal<[DeliverySignal]>('replay');
/** Cut the current wait short: the next attempt starts at once, in the same budget. */
export const retryNowSignal = defineSignal<[DeliverySignal]>('retryNow');
/** Stop retrying; a dead letter is dropped. */
export const cancelSignal = defineSignal<[DeliverySignal]>('cancel');
/** Herald's own: the FIFO delivery ahead settled, so a delivery queued behind it may go now. */
export const turnSignal = defineSignal<[DeliverySignal]>('turn');

export interface EventWorkflowState {
  deliveries: { endpointId: string; status: DeliveryStatusName }[];
  /** Part workflows of a large fan-out, by workflow id. */
  parts: string[];
}
export const statusQuery = defineQuery<EventWorkflowState>('status');

/** Herald's custom search attributes; registered on the embedded server at start. */
export const HeraldTenant = defineSearchAttributeKey('HeraldTenant', SearchAttributeType.KEYWORD);
export const HeraldEventType = defineSearchAttributeKey('HeraldEventType', SearchAttributeType.KEYWORD);
/** `failed` while the event holds a dead letter, `delivering` otherwise. */
export const HeraldStatus = defineSearchAttributeKey('HeraldStatus', SearchAttributeType.KEYWORD);
export const HeraldEndpointIds = defineSearchAttributeKey('HeraldEndpointIds', SearchAttributeType.KEYWORD_LIST);
export const HeraldFailedEndpoints = defineSearchAttributeKey('HeraldFailedEndpoints', SearchAttributeType.KEYWORD_LIST);
export const heraldSearchAttributes = [HeraldTenant, HeraldEventType, HeraldStatus, HeraldEndpointIds, HeraldFailedEndpoints];

/** An event workflow's (or a part's) search attributes at start; past MAX_DIRECT_DELIVERIES it fans out, and each part lists its own endpoints. */
export function eventSearchAttributes(event: { tenant: string; type: string }, subscriptions: Subscription[]): SearchAttributePair[] {
  return [
    { key: HeraldTenant, value: event.tenant },
    { key: HeraldEventType, value: event.type },
    ...(subscriptions.length <= MAX_DIRECT_DELIVERIES ? [{ key: HeraldEndpointIds, value: subscriptions.map((s) => s.endpointId) }] : []),
  ];
}

export function eventWorkflowId(tenant: string, eventId: string): string {
  return `event:${tenant}:${eventId}`;
}

/** A part of a large fan-out: `event:<tenant>:<eventId>/<n>`, under the event workflow. */
export function partWorkflowId(parentId: string, part: number): string {
  return `${parentId}/${part}`;
}

/** The workflow deleting a tenant: one per tenant. */
export function tenantDeletionWorkflowId(tenant: string): string {
  return `tenant-deletion:${tenant}`;
}

/** A delivery is logical: the event workflow plus the endpoint. Ids never contain colons. */
export function deliveryId(tenant: string, eventId: string, endpointId: string): string {
  return `delivery:${tenant}:${eventId}:${endpointId}`;
}
