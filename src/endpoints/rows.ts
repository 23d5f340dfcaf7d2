import { MASKED_HEADER_VALUE } from '../headers.ts';
import type { FormatName } from '../formats/index.ts';
import type { RetryPolicy } from '../delivery/retryPolicy.ts';
import type { SignatureConfig } from '../signing/index.ts';
import type { TransformDefinition } from '../transform/index.ts';
import { type EndpointAuth, publicAuth } from './auth.ts';
import type { Endpoint, EndpointChanges, NewEndpoint, RateLimit } from './store.ts';

/** How an endpoint is stored: its row, the columns it is written with, and the row read back as the API shows it. */

/** How `disable_after` stores "never" (SQL NULL is Herald's default). */
const NEVER = 'never';

export const masked = (headers: Record<string, string>) => Object.fromEntries(Object.keys(headers).map((name) => [name, MASKED_HEADER_VALUE]));

export interface Row {
  id: string; tenant: string; url: string; description: string; event_types: string[];
  secret: string; previous_secret: string | null; previous_secret_expires_at: Date | string | null;
  retry_policy: RetryPolicy; timeout_ms: number; format: FormatName; signature: SignatureConfig;
  headers: Record<string, string>; enabled: boolean; source_app: string | null; static_route: string | null;
  transform: TransformDefinition | null; all_tenants: boolean; rate_limit: RateLimit | null; disable_after: string | null; ordering: 'fifo' | null; fifo_on_failure: 'block' | 'skip' | null;
  /** Its secret field sealed (see auth.ts). */
  auth: EndpointAuth | null;
  proxy: boolean;
  filter: string | null;
  channels: string[] | null;
  static_fallback: boolean; created_at: Date | string; updated_at: Date | string;
}

const iso = (value: Date | string) => new Date(value).toISOString();

/** The columns an endpoint is written with, in the order columnValues gives them. */
export const COLUMNS = ['id', 'tenant', 'url', 'description', 'event_types', 'secret', 'retry_policy', 'timeout_ms', 'format', 'signature', 'headers', 'enabled', 'source_app', 'transform', 'all_tenants', 'rate_limit', 'disable_after', 'ordering', 'fifo_on_failure', 'auth', 'proxy', 'filter', 'channels'];

export const placeholders = (count: number) => Array.from({ length: count }, (_, i) => `$${i + 1}`).join(', ');

/** `stored` holds the secret and the static headers as stored (sealed when keys are configured). */
export function columnValues(id: string, input: NewEndpoint, stored: { secret: string; headers: Record<string, string>; auth: EndpointAuth | null }): unknown[] {
  return [id, input.tenant, input.url, input.description, JSON.stringify(input.eventTypes), stored.secret,
    JSON.stringify(input.retryPolicy), input.timeoutMs, input.format, JSON.stringify(input.signature),
    JSON.stringify(stored.headers), input.enabled, input.sourceApp ?? null,
    input.transform ? JSON.stringify(input.transform) : null, input.allTenants ?? false, input.rateLimit ? JSON.stringify(input.rateLimit) : null,
    disableAfterColumn(input.disableAfter), input.ordering ?? null, input.onFailure ?? 'block',
    stored.auth ? JSON.stringify(stored.auth) : null, input.proxy ?? true,
    input.filter ?? null, input.channels ? JSON.stringify(input.channels) : null];
}

export const disableAfterColumn = (value: string | null | undefined) => (value === null ? NEVER : value ?? null);

export function toEndpoint(row: Row): Endpoint {
  return {
    id: row.id, tenant: row.tenant, url: row.url, description: row.description, eventTypes: row.event_types,
    retryPolicy: row.retry_policy, timeoutMs: row.timeout_ms, format: row.format, signature: row.signature,
    headers: masked(row.headers), enabled: row.enabled, sourceApp: row.source_app, transform: row.transform ?? null,
    allTenants: row.all_tenants, rateLimit: row.rate_limit, ordering: row.ordering, onFailure: row.fifo_on_failure ?? 'block', auth: publicAuth(row.auth), proxy: row.proxy,
    filter: row.filter ?? null, channels: row.channels ?? null,
    ...(row.disable_after !== null && { disableAfter: row.disable_after === NEVER ? null : row.disable_after }),
    readOnly: row.static_route !== null,
    staticRoute: row.static_route === null ? null : { name: row.static_route, fallback: row.static_fallback },
    createdAt: iso(row.created_at), updatedAt: iso(row.updated_at),
  };
}

/** Columns PATCH may set, by Endpoint field; jsonb columns take JSON text. */
export const changeColumns = {
  url: { column: 'url', json: false },
  description: { column: 'description', json: false },
  eventTypes: { column: 'event_types', json: true },
  retryPolicy: { column: 'retry_policy', json: true },
  timeoutMs: { column: 'timeout_ms', json: false },
  format: { column: 'format', json: false },
  signature: { column: 'signature', json: true },
  headers: { column: 'headers', json: true },
  enabled: { column: 'enabled', json: false },
  sourceApp: { column: 'source_app', json: false },
  transform: { column: 'transform', json: true },
  allTenants: { column: 'all_tenants', json: false },
  rateLimit: { column: 'rate_limit', json: true },
  disableAfter: { column: 'disable_after', json: false },
  ordering: { column: 'ordering', json: false },
  onFailure: { column: 'fifo_on_failure', json: false },
  auth: { column: 'auth', json: true },
  proxy: { column: 'proxy', json: false },
  filter: { column: 'filter', json: false },
  channels: { column: 'channels', json: true },
} satisfies Record<keyof EndpointChanges, { column: string; json: boolean }>;
