import type { HeraldEvent } from '../../workflows/contract.ts';

/** Per-endpoint settings a format may read. */
export interface FormatOptions {
  /** `make` only: the `source_app` value; the tenant when unset. */
  sourceApp: string | null;
}

/** What a format may read of the attempt it builds the body for. */
export interface FormatAttempt {
  /** When this attempt is sent. */
  sentAt: Date;
}

/** Turns an event into the JSON body one kind of receiver expects. */
export type PayloadFormat = (event: HeraldEvent, options: FormatOptions, attempt: FormatAttempt) => unknown;

const asObject = (data: unknown): Record<string, unknown> =>
  data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : { data };

export const formats = {
  /** Standard Webhooks: `{ type, timestamp, data }`. */
  standard: (event) => ({ type: event.type, timestamp: event.occurredAt, data: event.data }),
  /** The Make.com order-form shape: fixed fields first, then the event's own fields. */
  make: (event, { sourceApp }) => ({
    event_type: event.type,
    source_app: sourceApp ?? event.tenant,
    request_id: event.id,
    submitted_at: event.occurredAt,
    ...asObject(event.data),
  }),
  /** The booking app's typed payloads: the type, then the event's own fields at the top level. */
  flat: (event) => ({ type: event.type, ...asObject(event.data) }),
  /** The booking app's wire format: the event's fields under `payload`, its id, and the time of this attempt. */
  booking: (event, _options, { sentAt }) => ({ type: event.type, payload: event.data, event_id: event.id, sent_at: sentAt.toISOString() }),
  /** A generic envelope (the ERP and SaaS shapes are transforms: docs/integrations.md). */
  envelope: (event) => ({
    event: event.type,
    event_id: event.id,
    timestamp: event.occurredAt,
    data: event.data,
    metadata: { tenant: event.tenant },
  }),
} satisfies Record<string, PayloadFormat>;

export type FormatName = keyof typeof formats;
export const formatNames = Object.keys(formats) as [FormatName, ...FormatName[]];

/**
 * What each format's body depends on besides the event, as a key: one event and one key make one body, byte for byte,
 * so a large event's body is serialised once for all its attempts. None for a format that reads the attempt.
 */
export const bodyKeys: { [F in FormatName]: (options: FormatOptions) => string | undefined } = {
  standard: () => 'standard',
  make: ({ sourceApp }) => `make ${JSON.stringify(sourceApp)}`,
  flat: () => 'flat',
  booking: () => undefined,
  envelope: () => 'envelope',
};
