import type { DeliveryStatusName, PruneSettings } from '../../workflows/contract.ts';
import type { PayloadKey } from '../keys.ts';
import type { Db } from './db.ts';
import { ATTEMPT_EXCERPTS, SecretCipher } from './secretCipher.ts';
import type { StatementPart } from './statement.ts';

/** One attempt as the log keeps it; `startedAt` is the attempt's own time (workflow time under a time-skipping test server). */
export interface AttemptRecord {
  attempt: number;
  startedAt: string;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  /** The first KiB of the response body. */
  responseExcerpt: string | null;
  /** The response headers that explain an outcome (Retry-After and the like). */
  responseHeaders: Record<string, string> | null;
  /** The request as this attempt sent it (credentials masked, the body's first KiB); null when none was built. */
  request: SentRequest | null;
}

/** A request as the attempt log keeps it. */
export interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The first KiB of the body. */
  body: string;
}

export interface DeliverySummary {
  id: string;
  eventId: string;
  endpointId: string;
  eventType: string;
  /** The event's tags (GET /v1/deliveries?tag= finds it by any one). */
  tags: string[];
  status: DeliveryStatusName;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  startedAt: string;
  updatedAt: string;
}

/** A delivery with its latest attempts. */
export type DeliveryDetail = Omit<DeliverySummary, 'attempts'> & { attempts: AttemptRecord[] };

export interface DeliveryFilter {
  /** null: every tenant's (the admin recovering an all-tenant endpoint). */
  tenant: string | null;
  status?: DeliveryStatusName;
  endpointId?: string;
  eventType?: string;
  eventId?: string;
  /** Only deliveries of events carrying this tag. */
  tag?: string;
  /** Only deliveries to these endpoints (a portal session narrowed to them). */
  endpointIds?: string[];
  /** Deliveries of events accepted at or after this instant. */
  since?: Date;
}

/** What one attempt writes here: its row and the delivery's state after it. */
export interface AttemptWrite extends Omit<AttemptRecord, 'attempt'> {
  deliveryId: string;
  tenant: string;
  eventId: string;
  endpointId: string;
  eventType: string;
  attempt: number;
  budget: string;
  /** The delivery's state once this attempt is classified. */
  status: 'retrying' | 'delivered' | 'failed';
  nextAttemptAt: string | null;
}

/** The latest attempts a delivery answers with; older ones stay in the table until pruned. */
const ATTEMPTS_SHOWN = 100;

/**
 * Who reads: a tenant key sees no answer of an all-tenant endpoint's receiver (its errors, response
 * excerpts and headers belong to the operator who owns it), nor the requests sent to it (its URL and
 * headers are the operator's too), only its deliveries' status and timings.
 */
export interface Reader {
  tenantKey: boolean;
}

/** Whether the delivery's endpoint is an all-tenant one, from the endpoint itself when the row is written (the flag never changes). */
const ENDPOINT_ALL_TENANTS = 'COALESCE((SELECT e.all_tenants FROM endpoints e WHERE e.id = d.endpoint_id), false)';

interface SummaryRow {
  id: string; event_id: string; endpoint_id: string; event_type: string; event_tags: string[] | null; status: DeliveryStatusName; attempts: number;
  last_status_code: number | null; last_error: string | null; next_attempt_at: Date | string | null;
  created_at: Date | string; updated_at: Date | string; endpoint_all_tenants: boolean;
}
interface AttemptRow {
  attempt: number; started_at: Date | string; duration_ms: number; status_code: number | null; error: string | null;
  response_excerpt: string | null; response_headers: Record<string, string> | null;
  request_method: string | null; request_url: string | null; request_headers: Record<string, string> | null; request_excerpt: string | null;
}

const iso = (value: Date | string) => new Date(value).toISOString();
type ExcerptPart = 'response excerpt' | 'request excerpt';

const sentRequest = (row: AttemptRow, body: string | null): SentRequest | null => (row.request_method === null
  ? null : { method: row.request_method, url: row.request_url ?? '', headers: row.request_headers ?? {}, body: body ?? '' });

/** Whether `reader` may see the answers of the delivery's receiver. */
const seesAnswers = (row: SummaryRow, reader: Reader) => !(reader.tenantKey && row.endpoint_all_tenants);

const toSummary = (row: SummaryRow, reader: Reader): DeliverySummary => ({
  id: row.id, eventId: row.event_id, endpointId: row.endpoint_id, eventType: row.event_type, tags: row.event_tags ?? [], status: row.status,
  attempts: row.attempts, lastStatusCode: row.last_status_code, lastError: seesAnswers(row, reader) ? row.last_error : null,
  nextAttemptAt: row.next_attempt_at === null ? null : iso(row.next_attempt_at), startedAt: iso(row.created_at), updatedAt: iso(row.updated_at),
});

/** A page position: the last row's creation time and id, opaque to clients. */
const encodeCursor = (row: SummaryRow) => Buffer.from(`${iso(row.created_at)}|${row.id}`).toString('base64url');
function decodeCursor(cursor: string): [string, string] | undefined {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  return at && id && !Number.isNaN(Date.parse(at)) ? [at, id] : undefined;
}

/**
 * Herald's record of every delivery and each attempt at it. Attempts write it; the API, the CLI and
 * `recover` read it. Temporal holds the running state; this holds the history of what was sent.
 */
export class DeliveryLog {
  /** The excerpts hold event data and receivers' answers: sealed at rest when HERALD_PAYLOAD_KEYS is set. */
  private readonly excerpts: SecretCipher;

  constructor(private readonly db: Db, payloadKeys: readonly PayloadKey[] = []) {
    this.excerpts = new SecretCipher(payloadKeys, ATTEMPT_EXCERPTS);
  }

  private sealExcerpt(excerpt: string | null, deliveryId: string, attempt: number, part: ExcerptPart): string | null {
    return excerpt === null ? null : this.excerpts.seal(excerpt, `${deliveryId}#${attempt}`, part);
  }

  /** An excerpt as written; one sealed under a key no longer configured reads as a note saying so, not as an error of the whole read. */
  private openExcerpt(stored: string | null, deliveryId: string, attempt: number, part: ExcerptPart): string | null {
    if (stored === null) return null;
    try {
      return this.excerpts.open(stored, `${deliveryId}#${attempt}`, part);
    } catch (err) {
      return `[unreadable: ${(err as Error).message}]`;
    }
  }

  /**
   * At ingest: one pending row per subscribed endpoint (kept as is when an attempt got there first, but for the
   * event's tags). A scheduled event's rows hold its due time as their next attempt: the message log shows when it is due.
   */
  async registerPending(
    event: { tenant: string; id: string; type: string; tags?: string[] }, deliveries: { id: string; endpointId: string }[], deliverAt?: string,
  ): Promise<void> {
    if (!deliveries.length) return;
    const params = [event.tenant, event.id, event.type, deliveries.map((d) => d.id), deliveries.map((d) => d.endpointId), deliverAt ?? null];
    // An untagged event keeps the plainer statement: an ON CONFLICT update costs PGlite some planning on every ingest.
    const tags = event.tags ? { column: ', event_tags', value: ', $7::text[]', onConflict: 'DO UPDATE SET event_tags = EXCLUDED.event_tags' } : { column: '', value: '', onConflict: 'DO NOTHING' };
    await this.db.query(
      `INSERT INTO deliveries (id, tenant, event_id, endpoint_id, event_type, status, next_attempt_at, endpoint_all_tenants${tags.column})
       SELECT id, $1, $2, endpoint_id, $3, 'pending', $6::timestamptz, ${ENDPOINT_ALL_TENANTS}${tags.value} FROM unnest($4::text[], $5::text[]) AS d (id, endpoint_id)
       ON CONFLICT (id) ${tags.onConflict}`,
      event.tags ? [...params, event.tags] : params,
    );
  }

  /**
   * The attempt's row and the delivery's state after it, as a part of the statement traffic control
   * sends with the endpoint's health and circuit (src/endpoints/trafficControl.ts): one round trip per attempt.
   */
  attemptRecord(a: AttemptWrite): StatementPart {
    return (s) => {
      const [deliveryId, endpointId, attempt, statusCode, error] = [s.param(a.deliveryId), s.param(a.endpointId), s.param(a.attempt), s.param(a.statusCode), s.param(a.error)];
      const json = (value: object | null) => s.param(value === null ? null : JSON.stringify(value));
      // An attempt still under way when its event was erased keeps no excerpt: the erasure has already blanked the others.
      const erased = `EXISTS (SELECT 1 FROM erased_events WHERE tenant = ${s.param(a.tenant)} AND event_id = ${s.param(a.eventId)})`;
      const unlessErased = (value: string) => `CASE WHEN ${erased} THEN NULL ELSE ${value} END`;
      s.with('attempt', `INSERT INTO delivery_attempts (delivery_id, attempt, budget, started_at, duration_ms, status_code, error, response_excerpt, response_headers,
          request_method, request_url, request_headers, request_excerpt)
        VALUES (${deliveryId}, ${attempt}, ${s.param(a.budget)}, ${s.param(a.startedAt)}, ${s.param(a.durationMs)}, ${statusCode}, ${error},
          ${unlessErased(s.param(this.sealExcerpt(a.responseExcerpt, a.deliveryId, a.attempt, 'response excerpt')))}, ${json(a.responseHeaders)},
          ${s.param(a.request?.method ?? null)}, ${s.param(a.request?.url ?? null)}, ${unlessErased(`${json(a.request?.headers ?? null)}::json`)},
          ${unlessErased(s.param(this.sealExcerpt(a.request?.body ?? null, a.deliveryId, a.attempt, 'request excerpt')))})`);
      s.with('delivery', `INSERT INTO deliveries (id, tenant, event_id, endpoint_id, event_type, status, attempts, last_status_code, last_error, next_attempt_at, endpoint_all_tenants)
        SELECT ${deliveryId}, ${s.param(a.tenant)}, ${s.param(a.eventId)}, ${endpointId}, ${s.param(a.eventType)}, ${s.param(a.status)}, ${attempt}, ${statusCode}, ${error},
          ${s.param(a.nextAttemptAt)}::timestamptz, ${ENDPOINT_ALL_TENANTS} FROM (SELECT ${endpointId}::text AS endpoint_id) AS d
        ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, attempts = GREATEST(deliveries.attempts, EXCLUDED.attempts),
          last_status_code = EXCLUDED.last_status_code, last_error = EXCLUDED.last_error, next_attempt_at = EXCLUDED.next_attempt_at, updated_at = now()`);
    };
  }

  /** A replay was asked for: pending again until its first attempt reports. */
  async markReplaying(deliveryId: string): Promise<void> {
    await this.db.query(`UPDATE deliveries SET status = 'pending', next_attempt_at = NULL, updated_at = now() WHERE id = $1`, [deliveryId]);
  }

  async markCancelled(deliveryId: string): Promise<void> {
    await this.db.query(`UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, updated_at = now() WHERE id = $1`, [deliveryId]);
  }

  async get(tenant: string, id: string, reader: Reader = { tenantKey: false }): Promise<DeliveryDetail | undefined> {
    const [row] = await this.db.query<SummaryRow>('SELECT * FROM deliveries WHERE tenant = $1 AND id = $2', [tenant, id]);
    if (!row) return undefined;
    const attempts = await this.db.query<AttemptRow>(
      'SELECT * FROM (SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt DESC LIMIT $2) AS latest ORDER BY attempt',
      [id, ATTEMPTS_SHOWN],
    );
    const answers = seesAnswers(row, reader);
    return {
      ...toSummary(row, reader),
      attempts: attempts.map((a) => ({
        attempt: a.attempt, startedAt: iso(a.started_at), durationMs: a.duration_ms, statusCode: a.status_code,
        error: answers ? a.error : null, responseExcerpt: answers ? this.openExcerpt(a.response_excerpt, id, a.attempt, 'response excerpt') : null,
        responseHeaders: answers ? a.response_headers : null, request: answers ? sentRequest(a, this.openExcerpt(a.request_excerpt, id, a.attempt, 'request excerpt')) : null,
      })),
    };
  }

  /** Newest first, `limit` per page after the cursor a previous page gave. */
  async list(
    filter: DeliveryFilter, page: { limit: number; cursor?: string }, reader: Reader = { tenantKey: false },
  ): Promise<{ data: DeliverySummary[]; nextCursor: string | null }> {
    const after = page.cursor ? decodeCursor(page.cursor) : undefined;
    const rows = await this.db.query<SummaryRow>(
      `SELECT * FROM deliveries WHERE ($1::text IS NULL OR tenant = $1)
         AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR endpoint_id = $3)
         AND ($4::text IS NULL OR event_type = $4) AND ($5::text IS NULL OR event_id = $5)
         AND ($6::timestamptz IS NULL OR created_at >= $6)
         AND ($7::timestamptz IS NULL OR (created_at, id) < ($7::timestamptz, $8::text))
         AND ($10::text[] IS NULL OR endpoint_id = ANY($10::text[]))
         AND ($11::text IS NULL OR event_tags @> ARRAY[$11::text])
       ORDER BY created_at DESC, id DESC LIMIT $9`,
      [filter.tenant, filter.status ?? null, filter.endpointId ?? null, filter.eventType ?? null, filter.eventId ?? null,
        filter.since?.toISOString() ?? null, after?.[0] ?? null, after?.[1] ?? null, page.limit, filter.endpointIds ?? null, filter.tag ?? null],
    );
    return { data: rows.map((row) => toSummary(row, reader)), nextCursor: rows.length === page.limit ? encodeCursor(rows.at(-1)!) : null };
  }

  /**
   * Drops attempts older than the retention, and settled deliveries not touched since; and the tombstones of
   * events erased longer ago than the idempotency window, whose ids may then be used again.
   */
  async prune(settings: PruneSettings): Promise<{ attempts: number; deliveries: number; tombstones: number }> {
    const cutoff = new Date(Date.now() - settings.retentionMs).toISOString();
    const attempts = await this.db.query('DELETE FROM delivery_attempts WHERE started_at < $1 RETURNING 1', [cutoff]);
    const deliveries = await this.db.query(
      `DELETE FROM deliveries WHERE updated_at < $1 AND status IN ('delivered', 'failed', 'cancelled') RETURNING 1`,
      [cutoff],
    );
    const tombstones = await this.db.query('DELETE FROM erased_events WHERE erased_at < $1 RETURNING 1', [new Date(Date.now() - settings.idempotencyWindowMs).toISOString()]);
    return { attempts: attempts.length, deliveries: deliveries.length, tombstones: tombstones.length };
  }

  /** The erased event's tombstone: its id stays a duplicate for the idempotency window. Answers when it was first erased. */
  async markErased(tenant: string, eventId: string): Promise<{ erasedAt: string }> {
    const [tombstone] = await this.db.query<{ erased_at: Date | string }>(
      `INSERT INTO erased_events (tenant, event_id) VALUES ($1, $2)
       ON CONFLICT (tenant, event_id) DO UPDATE SET erased_at = erased_events.erased_at RETURNING erased_at`,
      [tenant, eventId],
    );
    return { erasedAt: iso(tombstone!.erased_at) };
  }

  /**
   * The attempt log's part of erasing an event: its deliveries still under way are cancelled and its attempts'
   * excerpts blanked. Ids, times, status codes and errors stay.
   */
  async eraseAttempts(tenant: string, eventId: string): Promise<{ deliveriesCancelled: number; attemptExcerpts: number }> {
    const deliveriesCancelled = await this.cancelPending(tenant, eventId);
    const attemptExcerpts = await this.blankAttemptExcerpts('delivery_id IN (SELECT id FROM deliveries WHERE tenant = $1 AND event_id = $2)', [tenant, eventId]);
    return { deliveriesCancelled, attemptExcerpts };
  }

  /** The event's deliveries still pending or retrying, cancelled (an erasure, a scheduled event cancelled); how many. */
  async cancelPending(tenant: string, eventId: string): Promise<number> {
    const cancelled = await this.db.query(
      `UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, updated_at = now()
       WHERE tenant = $1 AND event_id = $2 AND status IN ('pending', 'retrying') RETURNING 1`,
      [tenant, eventId],
    );
    return cancelled.length;
  }

  /** Blanks the excerpts of attempts made before `cutoff`, for one tenant or every tenant but some (payload retention). */
  async blankExcerptsBefore(scope: { tenant: string } | { exceptTenants: string[] }, cutoff: Date): Promise<number> {
    return 'tenant' in scope
      ? this.blankAttemptExcerpts('started_at < $2 AND delivery_id IN (SELECT id FROM deliveries WHERE tenant = $1)', [scope.tenant, cutoff.toISOString()])
      : this.blankAttemptExcerpts('started_at < $2 AND delivery_id IN (SELECT id FROM deliveries WHERE tenant <> ALL($1::text[]))', [scope.exceptTenants, cutoff.toISOString()]);
  }

  /** Whether the event was erased within the idempotency window: its id is then a duplicate. */
  async isErased(tenant: string, eventId: string): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM erased_events WHERE tenant = $1 AND event_id = $2', [tenant, eventId])).length > 0;
  }

  /**
   * The one place that blanks what attempts kept of the event's data (erasure, retention): the receiver's answer, and
   * the request's body and headers (a transform may put event data in either).
   * Answers how many attempts had something to blank.
   */
  private async blankAttemptExcerpts(where: string, params: unknown[]): Promise<number> {
    const rows = await this.db.query(
      `UPDATE delivery_attempts SET response_excerpt = NULL, request_excerpt = NULL, request_headers = NULL
        WHERE (${where}) AND (response_excerpt IS NOT NULL OR request_excerpt IS NOT NULL OR request_headers IS NOT NULL) RETURNING 1`,
      params,
    );
    return rows.length;
  }
}
