import crypto from 'node:crypto';
import { MASKED_HEADER_VALUE } from '../headers.ts';
import type { FormatName } from '../formats/index.ts';
import type { RetryPolicy } from '../delivery/retryPolicy.ts';
import type { SignatureConfig } from '../signing/index.ts';
import type { PayloadKey } from '../keys.ts';
import type { TransformDefinition } from '../transform/index.ts';
import type { Db } from '../storage/db.ts';
import { SecretCipher } from '../storage/secretCipher.ts';
import { authSecretOf, type EndpointAuth, openAuth, type PublicEndpointAuth, sealAuth } from './auth.ts';
import { matchesEventType } from './definition.ts';
import { changeColumns, columnValues, COLUMNS, disableAfterColumn, placeholders, type Row, toEndpoint } from './rows.ts';

export interface Endpoint {
  id: string;
  tenant: string;
  url: string;
  description: string;
  eventTypes: string[];
  retryPolicy: RetryPolicy;
  timeoutMs: number;
  format: FormatName;
  signature: SignatureConfig;
  /** Static headers, each value shown as MASKED_HEADER_VALUE: they often carry a receiver's credentials. */
  headers: Record<string, string>;
  enabled: boolean;
  /** `make` format only: the `source_app` it sends; the tenant when null. */
  sourceApp: string | null;
  /** JSONata expressions for the body and headers; the format preset when null. */
  transform: TransformDefinition | null;
  /** Receives the matching events of every tenant (admin only; the SaaS platform's endpoints with no organisation). */
  allTenants: boolean;
  /** Requests per second across every worker, with a burst; null: no limit. */
  rateLimit: RateLimit | null;
  /** Continuous failure before Herald disables it, as declared ("5d"); null: never; undefined: Herald's default. */
  disableAfter?: string | null;
  /** `fifo`: one delivery in flight at a time, in the order Herald accepted them; null: concurrent. */
  ordering: 'fifo' | null;
  /** With `fifo`: whether a delivery that failed for good holds the line until replayed or cancelled (`block`), or is set aside (`skip`). */
  onFailure: 'block' | 'skip';
  /** How Herald authenticates to the receiver besides signing, without its secret; null: no more than the signature. */
  auth: PublicEndpointAuth | null;
  /** Whether its requests go through HERALD_EGRESS_PROXY when one is set; false: straight to the receiver. */
  proxy: boolean;
  /** A JSONata expression over the event: it receives only the events it gives true for; null: every event of its types. */
  filter: string | null;
  /** It receives only events in one of these channels; null: whatever their channels. */
  channels: string[] | null;
  /** Static routes come from configuration: the API shows them but may not change them (409). */
  readOnly: boolean;
  /** Set for static routes: the route's name and whether it is its tenant's fallback. */
  staticRoute: { name: string; fallback: boolean } | null;
  createdAt: string;
  updatedAt: string;
}

export type NewEndpoint = Omit<Endpoint, 'id' | 'sourceApp' | 'transform' | 'allTenants' | 'rateLimit' | 'ordering' | 'onFailure' | 'auth' | 'proxy' | 'filter' | 'channels' | 'readOnly' | 'staticRoute' | 'createdAt' | 'updatedAt'> & {
  /** Empty for no secret (shared-secret and hmac-sha256 then send none). */
  secret: string;
  sourceApp?: string | null;
  transform?: TransformDefinition | null;
  allTenants?: boolean;
  rateLimit?: RateLimit | null;
  ordering?: 'fifo' | null;
  onFailure?: 'block' | 'skip';
  /** With its secret in clear; sealed by the store. */
  auth?: EndpointAuth | null;
  proxy?: boolean;
  filter?: string | null;
  channels?: string[] | null;
};

export interface RateLimit {
  perSecond: number;
  burst: number;
}


/**
 * A route from the routes file or HERALD_ROUTE_* variables. A fallback route receives the event
 * types of its tenant that no other static route takes.
 */
export type StaticRoute = NewEndpoint & { name: string; fallback: boolean };

/** Static routes keep one id across restarts, so parked deliveries still find them. */
export const staticRouteId = (name: string) => `ep_route_${name}`;

/** What PATCH may change: not identity, nor whether an endpoint is a static route. */
export type EndpointChanges = Partial<Omit<Endpoint, 'id' | 'tenant' | 'auth' | 'readOnly' | 'staticRoute' | 'createdAt' | 'updatedAt'> & Pick<NewEndpoint, 'auth'>>;

/** The endpoint as an attempt needs it: its static headers in clear, the secrets that sign for it right now (newest first), its authentication's secret in clear. */
export interface SigningEndpoint extends Omit<Endpoint, 'auth'> {
  secrets: string[];
  auth: EndpointAuth | null;
}


/**
 * Endpoint lookups on the delivery path are cached this long; admin reads are not. Writes
 * through this store drop the entry at once; other processes see a write within this time.
 */
const DELIVERY_CACHE_MS = 5_000;


/** What a static header's value is sealed as: bound to its name, so values do not open under another. */
const headerPart = (name: string) => `header ${name}`;

interface CachedEndpoint {
  endpoint: Endpoint;
  headers: Record<string, string>;
  auth: EndpointAuth | null;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: number | null;
}

export class EndpointStore {
  private readonly cache = new Map<string, { entry: CachedEndpoint | undefined; until: number }>();
  private readonly secrets: SecretCipher;

  /** With `secretKeys` (HERALD_PAYLOAD_KEYS), signing secrets and static header values are sealed at rest under the first. */
  constructor(private readonly db: Db, options: { secretKeys?: readonly PayloadKey[] } = {}) {
    this.secrets = new SecretCipher(options.secretKeys ?? []);
  }

  async create(input: NewEndpoint): Promise<Endpoint> {
    const id = `ep_${crypto.randomBytes(12).toString('base64url')}`;
    const [row] = await this.db.query<Row>(
      `INSERT INTO endpoints (${COLUMNS.join(', ')}) VALUES (${placeholders(COLUMNS.length)}) RETURNING *`,
      columnValues(id, input, { secret: this.secrets.seal(input.secret, id), headers: this.sealHeaders(input.headers, id), auth: sealAuth(input.auth ?? null, id, this.secrets) }),
    );
    return toEndpoint(row!);
  }

  /**
   * Seals every signing secret, static header value and auth secret still stored in plaintext (written before
   * keys were configured) or under a key that is no longer the first. Answers how many endpoints it
   * rewrote, and the ids of those it cannot open (sealed under a key no longer configured), which it
   * leaves as they are.
   */
  async sealStoredSecrets(): Promise<{ sealed: number; unreadable: string[] }> {
    const rows = await this.db.query<Pick<Row, 'id' | 'secret' | 'previous_secret' | 'headers' | 'auth'>>('SELECT id, secret, previous_secret, headers, auth FROM endpoints');
    let sealed = 0;
    const unreadable: string[] = [];
    for (const { id, secret, previous_secret: previous, headers, auth } of rows) {
      const values = [secret, ...(previous === null ? [] : [previous]), ...Object.values(headers), ...(auth ? [authSecretOf(auth)] : [])];
      if (!values.some((value) => this.secrets.needsSealing(value))) continue;
      let opened;
      try {
        opened = {
          secret: this.secrets.open(secret, id), previous: previous === null ? null : this.secrets.open(previous, id), headers: this.openHeaders(headers, id),
          auth: openAuth(auth, id, this.secrets),
        };
      } catch {
        unreadable.push(id);
        continue;
      }
      // Only if unchanged meanwhile: a rotation or a PATCH in between wins.
      const changed = await this.db.query(
        `UPDATE endpoints SET secret = $4, previous_secret = $5, headers = $6, auth = $8
         WHERE id = $1 AND secret = $2 AND headers = $3::jsonb AND auth IS NOT DISTINCT FROM $7::jsonb RETURNING id`,
        [id, secret, JSON.stringify(headers), this.secrets.seal(opened.secret, id), opened.previous === null ? null : this.secrets.seal(opened.previous, id),
          JSON.stringify(this.sealHeaders(opened.headers, id)), auth ? JSON.stringify(auth) : null, opened.auth ? JSON.stringify(sealAuth(opened.auth, id, this.secrets)) : null],
      );
      sealed += changed.length;
    }
    return { sealed, unreadable };
  }

  /**
   * Makes the stored static routes exactly the configured ones: inserts new routes, updates
   * changed ones (same id, so in-flight deliveries follow), deletes routes no longer configured.
   */
  async syncStaticRoutes(routes: StaticRoute[]): Promise<void> {
    const changeable = [...COLUMNS.filter((c) => c !== 'id'), 'static_fallback'];
    const stored = new Map(
      (await this.db.query<Pick<Row, 'id' | 'secret' | 'headers'>>('SELECT id, secret, headers FROM endpoints WHERE static_route IS NOT NULL')).map((r) => [r.id, r]),
    );
    for (const route of routes) {
      const id = staticRouteId(route.name);
      // A sealed value is different bytes each time: an unchanged one keeps its stored form, so an unchanged route is not rewritten.
      const current = stored.get(id);
      const kept = (sealed: string | undefined, value: string, part?: string) =>
        sealed !== undefined && this.openOrUndefined(sealed, id, part) === value ? sealed : this.secrets.seal(value, id, part);
      const storedValues = {
        secret: kept(current?.secret, route.secret),
        auth: null,
        headers: Object.fromEntries(Object.entries(route.headers).map(([name, value]) => [name, kept(current?.headers[name], value, headerPart(name))])),
      };
      await this.db.query(
        `INSERT INTO endpoints (${[...COLUMNS, 'static_route', 'static_fallback'].join(', ')})
         VALUES (${placeholders(COLUMNS.length + 2)})
         ON CONFLICT (id) DO UPDATE SET ${changeable.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}, updated_at = now()
         WHERE endpoints.static_route IS NOT NULL
           AND (${changeable.map((c) => `endpoints.${c}`).join(', ')}) IS DISTINCT FROM (${changeable.map((c) => `EXCLUDED.${c}`).join(', ')})`,
        [...columnValues(id, route, storedValues), route.name, route.fallback],
      );
    }
    await this.db.query('DELETE FROM endpoints WHERE static_route IS NOT NULL AND NOT (id = ANY($1::text[]))', [
      routes.map((r) => staticRouteId(r.name)),
    ]);
  }

  /** A tenant's endpoints, oldest first, `limit` per page after the id `after`. */
  async list(tenant: string, page: { limit: number; after?: string }): Promise<Endpoint[]> {
    const rows = await this.db.query<Row>(
      `SELECT * FROM endpoints WHERE tenant = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3`,
      [tenant, page.after ?? null, page.limit],
    );
    return rows.map(toEndpoint);
  }

  /** How many endpoints the tenant has, static routes included (for its quota). */
  async count(tenant: string): Promise<number> {
    const [row] = await this.db.query<{ count: number }>('SELECT count(*)::int AS count FROM endpoints WHERE tenant = $1', [tenant]);
    return row?.count ?? 0;
  }

  async get(tenant: string, id: string): Promise<Endpoint | undefined> {
    const [row] = await this.db.query<Row>('SELECT * FROM endpoints WHERE tenant = $1 AND id = $2', [tenant, id]);
    return row && toEndpoint(row);
  }

  /** The endpoint if it receives `tenant`'s events: the tenant's own, or an all-tenant one (whoever owns it). */
  async receiving(tenant: string, id: string): Promise<Endpoint | undefined> {
    const [row] = await this.db.query<Row>('SELECT * FROM endpoints WHERE id = $2 AND (tenant = $1 OR all_tenants)', [tenant, id]);
    return row && toEndpoint(row);
  }

  /**
   * Enabled endpoints of the tenant, and all-tenant endpoints, whose filters match the event type;
   * a fallback route only when no other static route does.
   */
  async subscribedTo(tenant: string, eventType: string): Promise<Endpoint[]> {
    const rows = await this.db.query<Row>('SELECT * FROM endpoints WHERE (tenant = $1 OR all_tenants) AND enabled ORDER BY id', [tenant]);
    const matching = rows.map(toEndpoint).filter((e) => e.eventTypes.some((p) => matchesEventType(p, eventType)));
    const routed = matching.some((e) => e.staticRoute && !e.staticRoute.fallback);
    return routed ? matching.filter((e) => !e.staticRoute?.fallback) : matching;
  }

  /**
   * Applies the given changes; undefined when the tenant has no such endpoint. A static header
   * sent back as MASKED_HEADER_VALUE keeps its stored value (one the endpoint does not have is dropped).
   */
  async update(tenant: string, id: string, changes: EndpointChanges): Promise<Endpoint | undefined> {
    if (changes.headers) {
      const [current] = Object.values(changes.headers).includes(MASKED_HEADER_VALUE)
        ? await this.db.query<Pick<Row, 'headers'>>('SELECT headers FROM endpoints WHERE tenant = $1 AND id = $2', [tenant, id])
        : [];
      const headers = Object.entries(changes.headers).flatMap(([name, value]) => {
        const kept = value === MASKED_HEADER_VALUE ? current?.headers[name] : this.secrets.seal(value, id, headerPart(name));
        return kept === undefined ? [] : [[name, kept] as const];
      });
      changes = { ...changes, headers: Object.fromEntries(headers) };
    }
    if (changes.auth) changes = { ...changes, auth: sealAuth(changes.auth, id, this.secrets) };
    const assignments: string[] = [];
    const params: unknown[] = [tenant, id];
    for (const [field, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      const { column, json } = changeColumns[field as keyof EndpointChanges];
      params.push(field === 'disableAfter' ? disableAfterColumn(value as string | null) : value === null || !json ? value : JSON.stringify(value));
      assignments.push(`${column} = $${params.length}`);
    }
    const [row] = await this.db.query<Row>(
      `UPDATE endpoints SET ${[...assignments, 'updated_at = now()'].join(', ')} WHERE tenant = $1 AND id = $2 RETURNING *`,
      params,
    );
    this.cache.delete(id);
    return row && toEndpoint(row);
  }

  /** False when the tenant has no such endpoint. Deliveries still under way fail their next attempt. */
  async delete(tenant: string, id: string): Promise<boolean> {
    const rows = await this.db.query('DELETE FROM endpoints WHERE tenant = $1 AND id = $2 RETURNING id', [tenant, id]);
    this.cache.delete(id);
    return rows.length > 0;
  }

  /**
   * Makes `secret` the signing secret; the one it replaces keeps signing alongside it
   * until `graceMs` from now. A second rotation within the grace drops the oldest.
   */
  async rotateSecret(tenant: string, id: string, secret: string, graceMs: number): Promise<{ endpoint: Endpoint; previousSecretExpiresAt: string } | undefined> {
    // The expiry is computed here, on the clock forDelivery compares it with.
    const expiresAt = new Date(Date.now() + graceMs);
    const [row] = await this.db.query<Row>(
      `UPDATE endpoints SET previous_secret = secret, previous_secret_expires_at = $3, secret = $4, updated_at = now()
       WHERE tenant = $1 AND id = $2 RETURNING *`,
      [tenant, id, expiresAt.toISOString(), this.secrets.seal(secret, id)],
    );
    this.cache.delete(id);
    return row && { endpoint: toEndpoint(row), previousSecretExpiresAt: expiresAt.toISOString() };
  }

  /** The current signing secret, for checks that depend on its form; never sent to a client. */
  currentSecret = async (tenant: string, id: string) => (await this.secretState(tenant, id))?.secret;

  /** The secret as it signs now, and until when the one it replaced still signs (null: none does). */
  async secretState(tenant: string, id: string): Promise<{ secret: string; previousSecretExpiresAt: string | null } | undefined> {
    const [row] = await this.db.query<Row>('SELECT * FROM endpoints WHERE tenant = $1 AND id = $2', [tenant, id]);
    const expires = row?.previous_secret_expires_at && new Date(row.previous_secret_expires_at);
    return row && { secret: this.secrets.open(row.secret, id), previousSecretExpiresAt: expires && expires.getTime() > Date.now() ? expires.toISOString() : null };
  }

  /** Drops the cached entry after a change made outside this store (traffic control disabling the endpoint). */
  forget(id: string): void {
    this.cache.delete(id);
  }

  /**
   * For one delivery attempt of an event of `tenant`: the endpoint with its headers in clear and
   * its signing secrets, cached briefly. Another tenant's endpoint is not found (unless it takes
   * every tenant's events): an event never reaches an endpoint it does not own, whatever id its
   * workflow carries.
   */
  async forDelivery(tenant: string, id: string): Promise<SigningEndpoint | undefined> {
    const endpoint = await this.cachedById(id);
    return endpoint && (endpoint.tenant === tenant || endpoint.allTenants) ? endpoint : undefined;
  }

  /** The endpoint, cached as for delivery but whatever the tenant: for Herald's own bookkeeping (traffic control), never for a tenant's request. */
  async cachedById(id: string): Promise<SigningEndpoint | undefined> {
    let hit = this.cache.get(id);
    if (!hit || hit.until <= Date.now()) {
      const [row] = await this.db.query<Row>('SELECT * FROM endpoints WHERE id = $1', [id]);
      const entry = row && {
        endpoint: toEndpoint(row),
        headers: this.openHeaders(row.headers, id),
        auth: openAuth(row.auth, id, this.secrets),
        secret: this.secrets.open(row.secret, id),
        previousSecret: row.previous_secret === null ? null : this.secrets.open(row.previous_secret, id),
        previousSecretExpiresAt: row.previous_secret_expires_at ? new Date(row.previous_secret_expires_at).getTime() : null,
      };
      hit = { entry, until: Date.now() + DELIVERY_CACHE_MS };
      this.cache.set(id, hit);
    }
    if (!hit.entry) return undefined;
    const { endpoint, headers, auth, secret, previousSecret, previousSecretExpiresAt } = hit.entry;
    // Decided per call, not per cache fill: a grace period ends on time even mid-cache.
    const previousValid = previousSecret !== null && previousSecretExpiresAt !== null && previousSecretExpiresAt > Date.now();
    return { ...endpoint, headers, auth, secrets: previousValid ? [secret, previousSecret] : [secret] };
  }

  private sealHeaders(headers: Record<string, string>, id: string): Record<string, string> {
    return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, this.secrets.seal(value, id, headerPart(name))]));
  }

  private openHeaders(stored: Record<string, string>, id: string): Record<string, string> {
    return Object.fromEntries(Object.entries(stored).map(([name, value]) => [name, this.secrets.open(value, id, headerPart(name))]));
  }

  private openOrUndefined(stored: string, id: string, part?: string): string | undefined {
    try {
      return this.secrets.open(stored, id, part);
    } catch {
      return undefined;
    }
  }
}
