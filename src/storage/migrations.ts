/**
 * Append-only: each entry is one schema version. Never edit a shipped entry. Pending versions run
 * in one transaction, so no statement here may refuse one (CREATE INDEX CONCURRENTLY, VACUUM).
 */
export const migrations: string[][] = [
  [
    `CREATE TABLE endpoints (
      id text PRIMARY KEY,
      tenant text NOT NULL,
      url text NOT NULL,
      description text NOT NULL DEFAULT '',
      event_types jsonb NOT NULL,
      secret text NOT NULL,
      previous_secret text,
      previous_secret_expires_at timestamptz,
      retry_policy jsonb NOT NULL,
      timeout_ms integer NOT NULL,
      format text NOT NULL,
      signature jsonb NOT NULL,
      headers jsonb NOT NULL,
      enabled boolean NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    'CREATE INDEX endpoints_tenant ON endpoints (tenant, created_at)',
  ],
  [
    `CREATE TABLE tenants (
      id text PRIMARY KEY,
      name text NOT NULL DEFAULT '',
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    // Requests that name no tenant act for this one, so keys can be issued for it too.
    `INSERT INTO tenants (id, name) VALUES ('default', 'Default tenant')`,
    `CREATE TABLE api_keys (
      id text PRIMARY KEY,
      tenant text NOT NULL REFERENCES tenants (id),
      name text NOT NULL DEFAULT '',
      key_sha256 text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    'CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at)',
  ],
  // Issue 4 part B: the make format's source_app, static routes from configuration, the event catalog.
  [
    'ALTER TABLE endpoints ADD COLUMN source_app text',
    // The configured route's name; NULL for endpoints made through the API.
    'ALTER TABLE endpoints ADD COLUMN static_route text',
    'ALTER TABLE endpoints ADD COLUMN static_fallback boolean NOT NULL DEFAULT false',
    `CREATE TABLE event_types (
      tenant text NOT NULL,
      name text NOT NULL,
      description text NOT NULL DEFAULT '',
      schema jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant, name)
    )`,
  ],
  // Issue 11: the attempt log. Temporal retries attempts itself and keeps no details of them; each attempt writes its row here.
  [
    `CREATE TABLE deliveries (
      id text PRIMARY KEY,
      tenant text NOT NULL,
      event_id text NOT NULL,
      endpoint_id text NOT NULL,
      event_type text NOT NULL,
      status text NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      last_status_code integer,
      last_error text,
      next_attempt_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    'CREATE INDEX deliveries_tenant_created ON deliveries (tenant, created_at DESC, id DESC)',
    'CREATE INDEX deliveries_endpoint_status ON deliveries (endpoint_id, status, created_at)',
    'CREATE INDEX deliveries_event ON deliveries (tenant, event_id)',
    `CREATE TABLE delivery_attempts (
      delivery_id text NOT NULL,
      attempt integer NOT NULL,
      budget text NOT NULL,
      started_at timestamptz NOT NULL,
      duration_ms integer NOT NULL,
      status_code integer,
      error text,
      response_excerpt text,
      response_headers jsonb
    )`,
    'CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, attempt)',
    'CREATE INDEX delivery_attempts_started ON delivery_attempts (started_at)',
    'ALTER TABLE endpoints ADD COLUMN last_success_at timestamptz',
    'ALTER TABLE endpoints ADD COLUMN last_failure_at timestamptz',
    'ALTER TABLE endpoints ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0',
  ],
  // Issue 12: request transforms per endpoint; endpoints receiving every tenant's events.
  [
    'ALTER TABLE endpoints ADD COLUMN transform jsonb',
    'ALTER TABLE endpoints ADD COLUMN all_tenants boolean NOT NULL DEFAULT false',
  ],
  // Issue 15: per-endpoint traffic control. The endpoint's settings, and the state every worker process shares.
  [
    // { perSecond, burst }; NULL: no limit.
    'ALTER TABLE endpoints ADD COLUMN rate_limit jsonb',
    // A duration as declared ("5d"), 'never', or NULL for Herald's default (HERALD_DISABLE_AFTER).
    'ALTER TABLE endpoints ADD COLUMN disable_after text',
    // 'fifo' with 'block' or 'skip'; NULL: deliveries run concurrently.
    'ALTER TABLE endpoints ADD COLUMN ordering text',
    'ALTER TABLE endpoints ADD COLUMN fifo_on_failure text',
    // The order Herald accepted deliveries in: a FIFO endpoint's line.
    'ALTER TABLE deliveries ADD COLUMN accepted_seq bigserial',
    'CREATE INDEX deliveries_endpoint_line ON deliveries (endpoint_id, accepted_seq)',
    `CREATE TABLE endpoint_traffic (
      endpoint_id text PRIMARY KEY,
      -- token bucket: tokens left at refilled_at
      tokens double precision,
      refilled_at timestamptz,
      -- a 429 pauses the endpoint until then, for every delivery but the one it answered (which waits its own schedule)
      slowed_until timestamptz,
      slowed_by text,
      -- circuit: open until then (NULL: closed), the cool-down it was opened for, when its probe went out
      circuit_open_until timestamptz,
      circuit_cooldown_ms bigint,
      probe_started_at timestamptz,
      -- the first failed attempt since the last success: auto-disable counts from here
      failing_since timestamptz
    )`,
  ],
  // Issue 18: circuits per tenant on all-tenant endpoints, so no tenant breaks an endpoint that serves others;
  // deliveries remember whether their endpoint was an all-tenant one, whose receiver's answers tenants may not read.
  [
    `CREATE TABLE endpoint_circuits (
      endpoint_id text NOT NULL,
      -- whose deliveries it holds: the event's tenant on an all-tenant endpoint, the endpoint's own otherwise
      tenant text NOT NULL,
      consecutive_failures integer NOT NULL DEFAULT 0,
      -- open until then (NULL: closed), the cool-down it was opened for, when its probe went out
      open_until timestamptz,
      cooldown_ms bigint,
      probe_started_at timestamptz,
      -- the first failed attempt since the last success: auto-disable counts from here
      failing_since timestamptz,
      PRIMARY KEY (endpoint_id, tenant)
    )`,
    `INSERT INTO endpoint_circuits (endpoint_id, tenant, consecutive_failures, open_until, cooldown_ms, probe_started_at, failing_since)
     SELECT t.endpoint_id, e.tenant, e.consecutive_failures, t.circuit_open_until, t.circuit_cooldown_ms, t.probe_started_at, t.failing_since
     FROM endpoint_traffic t JOIN endpoints e ON e.id = t.endpoint_id
     -- an all-tenant endpoint's circuits start afresh, one per tenant
     WHERE (t.circuit_open_until IS NOT NULL OR t.failing_since IS NOT NULL) AND NOT e.all_tenants`,
    'ALTER TABLE endpoint_traffic DROP COLUMN circuit_open_until, DROP COLUMN circuit_cooldown_ms, DROP COLUMN probe_started_at, DROP COLUMN failing_since',
    'ALTER TABLE deliveries ADD COLUMN endpoint_all_tenants boolean NOT NULL DEFAULT false',
    'UPDATE deliveries d SET endpoint_all_tenants = true FROM endpoints e WHERE e.id = d.endpoint_id AND e.all_tenants',
  ],
  // Issue 21: portal sessions, opened by a single-use link; codes and tokens kept as SHA-256 digests only.
  [
    `CREATE TABLE portal_sessions (
      tenant text NOT NULL,
      -- the caller's own label, or one Herald made up: what DELETE /v1/portal/sessions/:sessionId names
      id text NOT NULL,
      capabilities jsonb NOT NULL,
      -- NULL: every endpoint of the tenant
      endpoint_ids jsonb,
      -- issued with the admin key: the page links each event to its workflow in the Temporal Web UI
      operator boolean NOT NULL DEFAULT false,
      code_sha256 text NOT NULL UNIQUE,
      code_used_at timestamptz,
      token_sha256 text UNIQUE,
      expires_at timestamptz NOT NULL,
      revoked_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant, id)
    )`,
    // Origins allowed to frame the portal for this tenant (Content-Security-Policy frame-ancestors); none: same origin only.
    `CREATE TABLE portal_frame_ancestors (
      tenant text PRIMARY KEY,
      origins jsonb NOT NULL
    )`,
  ],
  // Issue 21's operator console: a tenant switch opens a session for another tenant that lives only while the
  // operator's first session does (its token's digest; a label used again gets a new token, so the switch ends too).
  ['ALTER TABLE portal_sessions ADD COLUMN root_token_sha256 text'],
  // The message log's filters (GET /v1/deliveries): each reads its first page in the log's order off an index
  // instead of sorting every matching row. BENCHMARKS.md has the figures and what they cost each attempt's write.
  [
    'CREATE INDEX deliveries_tenant_status_created ON deliveries (tenant, status, created_at DESC, id DESC)',
    'CREATE INDEX deliveries_tenant_endpoint_created ON deliveries (tenant, endpoint_id, created_at DESC, id DESC)',
    'CREATE INDEX deliveries_tenant_type_created ON deliveries (tenant, event_type, created_at DESC, id DESC)',
  ],
  // Issue 22: how Herald authenticates to the receiver besides signing (oauth2-client-credentials, basic, mtls), its secret field sealed.
  ['ALTER TABLE endpoints ADD COLUMN auth jsonb'],
  // Issue 21: the request each attempt sent, as it sent it (credentials masked, the body cut like the response excerpt),
  // so a delivery shows what its receiver got even after the endpoint's settings change. NULL: nothing was built.
  [
    'ALTER TABLE delivery_attempts ADD COLUMN request_method text',
    'ALTER TABLE delivery_attempts ADD COLUMN request_url text',
    // json, not jsonb: it keeps the headers in the order they were sent.
    'ALTER TABLE delivery_attempts ADD COLUMN request_headers json',
    'ALTER TABLE delivery_attempts ADD COLUMN request_excerpt text',
  ],
  // Issue 23: an erased event's tombstone. Its workflow executions are deleted from Temporal, so the tombstone is what
  // keeps its id a duplicate for the idempotency window; pruned by the attempt log's Schedule after that.
  [
    `CREATE TABLE erased_events (
      tenant text NOT NULL,
      event_id text NOT NULL,
      erased_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant, event_id)
    )`,
    'CREATE INDEX erased_events_erased_at ON erased_events (erased_at)',
    // How long the tenant's event data is kept, as declared ("30d"); NULL: Herald's default (HERALD_PAYLOAD_RETENTION).
    'ALTER TABLE tenants ADD COLUMN payload_retention text',
    // Every management action: who (a key id or portal session id, never a secret), what, on which tenant and target.
    `CREATE TABLE audit_log (
      id bigserial PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT now(),
      tenant text,
      actor text NOT NULL,
      action text NOT NULL,
      target text NOT NULL,
      changes jsonb,
      status integer NOT NULL
    )`,
    'CREATE INDEX audit_log_tenant ON audit_log (tenant, id)',
    'CREATE INDEX audit_log_at ON audit_log (at)',
  ],
  // Issue 22: whether an endpoint's requests go through HERALD_EGRESS_PROXY (when one is set).
  ['ALTER TABLE endpoints ADD COLUMN proxy boolean NOT NULL DEFAULT true'],
  // Issue 23: a tenant's deletion, run by its workflow; the row outlives the tenant as its tombstone, so the id is
  // refused for ingest and never reused, and GET /v1/tenants/:id/deletion still answers what was removed.
  [
    `CREATE TABLE tenant_deletions (
      tenant text PRIMARY KEY,
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      endpoints integer NOT NULL DEFAULT 0,
      keys integer NOT NULL DEFAULT 0,
      portal_sessions integer NOT NULL DEFAULT 0,
      deliveries integer NOT NULL DEFAULT 0,
      workflow_executions integer NOT NULL DEFAULT 0
    )`,
  ],
  // Issue 22: an endpoint's filter (a JSONata expression over the event) and channels (NULL: every event of its types);
  // an event's tags, kept on each of its deliveries so GET /v1/deliveries?tag= finds them (NULL: none).
  [
    'ALTER TABLE endpoints ADD COLUMN filter text',
    'ALTER TABLE endpoints ADD COLUMN channels jsonb',
    'ALTER TABLE deliveries ADD COLUMN event_tags text[]',
  ],
];
