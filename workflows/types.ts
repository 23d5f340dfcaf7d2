import type { RetrySchedule } from './retrySchedule.ts';

/** What was ingested. No secrets, no endpoint details: those stay in storage. */
export interface HeraldEvent {
  tenant: string;
  id: string;
  type: string;
  /** ISO-8601; when the event happened (or was accepted). */
  occurredAt: string;
  data: unknown;
}

/** A subscription as the event workflow sees it: ids and policy, never secrets. */
export interface Subscription {
  endpointId: string;
  schedule: RetrySchedule;
  timeoutMs: number;
  /** Host of the endpoint URL, for human summaries in the Web UI. */
  host: string;
}

/**
 * Which activities run as local activities (inside the workflow task, with no task queue round
 * trip): none, the subscription lookup, or also every delivery attempt. Chosen at ingest and
 * carried in the workflow input, so a workflow replays the same way whatever the worker's settings.
 */
export const localActivityModes = ['none', 'lookup', 'all'] as const;
export type LocalActivityMode = (typeof localActivityModes)[number];

/** Settings an event workflow is started with and hands on to its deliveries. */
export interface EventWorkflowOptions {
  deadLetterRetentionMs: number;
  localActivities?: LocalActivityMode;
}

export interface DeliveryInput extends EventWorkflowOptions {
  event: HeraldEvent;
  subscription: Subscription;
  /** Carried over when the workflow continues as new. */
  carried?: { attempts: AttemptRecord[] };
}

export type Verdict = 'delivered' | 'retry' | 'failed';

/** What one attempt activity reports. */
export interface AttemptOutcome {
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  /** The first KiB of the response body. */
  responseExcerpt: string | null;
  verdict: Verdict;
  /** The receiver's Retry-After, in milliseconds, when it sent one. */
  retryAfterMs?: number;
}

/** One line of a delivery's attempt log; `startedAt` is workflow time, as the Web UI shows it. */
export interface AttemptRecord extends Omit<AttemptOutcome, 'verdict' | 'retryAfterMs'> {
  attempt: number;
  startedAt: string;
}

export type DeliveryStatusName = 'pending' | 'retrying' | 'delivered' | 'failed' | 'cancelled';

export interface DeliveryStatus {
  id: string;
  eventId: string;
  endpointId: string;
  eventType: string;
  status: DeliveryStatusName;
  attempts: AttemptRecord[];
  nextAttemptAt: string | null;
}

export function eventWorkflowId(tenant: string, eventId: string): string {
  return `event:${tenant}:${eventId}`;
}

export function deliveryWorkflowId(tenant: string, eventId: string, endpointId: string): string {
  return `delivery:${tenant}:${eventId}:${endpointId}`;
}

/** Attempts made over the delivery's whole life; the log itself keeps only the latest. */
export function attemptsMade(status: DeliveryStatus): number {
  return status.attempts.at(-1)?.attempt ?? 0;
}
