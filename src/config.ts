import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defaultTrafficSettings, type TrafficSettings } from './endpoints/trafficControl.ts';
import { duration } from './duration.ts';
import { isLoopbackHost } from './exposure.ts';
import { loadStaticRoutes } from './endpoints/staticRoutes.ts';
import { egressProxySetting } from './delivery/egressProxy.ts';
import type { PayloadKey } from './keys.ts';

const booleanFromEnv = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = z.coerce.number().int().min(0).max(65535);

const commaList = (text: string) => text.split(',').map((item) => item.trim());

/**
 * `id:base64key,…`, each key 32 bytes (AES-256). Messages name the entry or key id, never
 * key material: configuration errors are printed.
 */
const payloadKeys = z.string().transform((text, ctx) => {
  const keys: PayloadKey[] = [];
  const fail = (message: string) => ctx.addIssue({ code: 'custom', message });
  for (const [index, entry] of commaList(text).entries()) {
    const [, id, material] = /^([\w.-]+):(.*)$/.exec(entry) ?? [];
    if (id === undefined || material === undefined) fail(`entry ${index + 1} is not "id:base64key" (an id of letters, digits, '.', '_' or '-')`);
    else if (keys.some((k) => k.id === id)) fail(`key id "${id}" appears more than once`);
    else {
      const key = Buffer.from(material, 'base64');
      // Buffer.from skips what is not base64; only canonical text round-trips.
      if (!material || key.toString('base64') !== material) fail(`key "${id}" is not valid base64`);
      else if (key.length !== 32) fail(`key "${id}" is ${key.length} bytes; AES-256 needs exactly 32 (openssl rand -base64 32)`);
      else keys.push({ id, key });
    }
  }
  return keys;
});

/** Browser origins (`scheme://host[:port]`), for CORS. */
const origins = z.string().transform((text, ctx) => {
  const list = commaList(text);
  for (const origin of list) {
    if (URL.canParse(origin) && new URL(origin).origin === origin) continue;
    ctx.addIssue({ code: 'custom', message: `"${origin}" is not an origin like http://localhost:8233 (scheme, host, port; no path)` });
  }
  return list;
});

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port.default(3000),
  /** Default: 127.0.0.1 without HERALD_API_KEY, all interfaces with it. */
  HERALD_HOST: z.string().min(1).optional(),
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  HERALD_DEV_SERVER_PORT: port.default(7233),
  HERALD_UI_PORT: port.default(8233),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  HERALD_TASK_QUEUE: z.string().min(1).default('herald'),
  HERALD_DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z.string().min(1).optional(),
  HERALD_API_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  HERALD_DEAD_LETTER_RETENTION: duration.prefault('7d'),
  HERALD_ATTEMPT_LOG_RETENTION: duration.prefault('30d'),
  HERALD_PAYLOAD_RETENTION: duration.prefault('30d'),
  HERALD_AUDIT_RETENTION: duration.prefault('365d'),
  HERALD_CACHE_DIR: z.string().min(1).optional(),
  /** Issue 15: traffic control defaults. */
  HERALD_CIRCUIT_FAILURES: z.coerce.number().int().min(1).default(defaultTrafficSettings.circuitFailures),
  HERALD_CIRCUIT_COOLDOWN: duration.prefault('1m'),
  HERALD_CIRCUIT_MAX_COOLDOWN: duration.prefault('1h'),
  HERALD_DISABLE_AFTER: z.union([z.literal('never').transform(() => null), duration]).prefault('5d'),
  /** A YAML or JSON file of static routes; HERALD_ROUTE_<NAME>_<FIELD> variables add more (see staticRoutes.ts). */
  HERALD_ROUTES_FILE: z.string().min(1).optional(),
  HERALD_STRICT_EVENT_TYPES: booleanFromEnv.optional(),
  HERALD_METRICS_PORT: port.default(9464),
  HERALD_TEMPORAL_METRICS_PORT: port.default(9465),
  /** Default: true only when Herald is loopback-only without a key (rule 1 of issue 13). */
  HERALD_ALLOW_PRIVATE_TARGETS: booleanFromEnv.optional(),
  /** Unset: payloads are stored in plaintext. */
  HERALD_PAYLOAD_KEYS: payloadKeys.optional(),
  /** Default: the embedded Web UI's origins. */
  HERALD_CODEC_CORS_ORIGINS: origins.optional(),
  /** Where browsers reach this API (behind a proxy, say): portal links start with it. */
  HERALD_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Where operators reach the Temporal Web UI: the portal links events to their workflows there. */
  HERALD_TEMPORAL_UI_URL: z.url({ protocol: /^https?$/ }).optional(),
  HERALD_MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  /** A client must have sent its whole request (headers and body) within this; slower ones get 408 and are disconnected. */
  HERALD_REQUEST_TIMEOUT: duration.prefault('10s').refine((ms) => ms >= 1000, 'at least 1s'),
  /** At shutdown, requests still under way get this long before their connections are closed. */
  HERALD_SHUTDOWN_GRACE: duration.prefault('5s'),
  HERALD_MAX_ENDPOINTS_PER_TENANT: z.coerce.number().int().min(1).default(100),
  HERALD_MIN_RETRY_DELAY: duration.prefault('1s'),
  HERALD_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(50),
  HERALD_MAX_RETRY_SCHEDULE: duration.prefault('7d'),
  HERALD_MAX_REPLAYS_PER_MINUTE: z.coerce.number().int().min(1).default(100),
  HERALD_WORKER_ACTIVITY_SLOTS: z.coerce.number().int().min(1).default(100),
  HERALD_WORKER_WORKFLOW_SLOTS: z.coerce.number().int().min(2).default(40),
  HERALD_WORKER_CACHED_WORKFLOWS: z.coerce.number().int().min(0).optional(),
  HERALD_EAGER_START: booleanFromEnv.default(false),
  HERALD_FIRST_ATTEMPT_LOCAL: booleanFromEnv.default(false),
  HERALD_DELIVERY_KEEP_ALIVE: booleanFromEnv.default(true),
  /** An HTTP CONNECT proxy every delivery and token request goes through (endpoints with `proxy: false` aside). */
  HERALD_EGRESS_PROXY: egressProxySetting.optional(),
  HERALD_EMBEDDED_SQLITE_SYNC: z.enum(['full', 'normal']).default('full'),
  /** A workflow bundle built beforehand from this version's workflows; unset: the worker bundles them at start. */
  HERALD_WORKFLOW_BUNDLE: z.string().min(1).refine((file) => fs.statSync(file, { throwIfNoEntry: false })?.isFile() === true, 'no such file').optional(),
  /** Spans are exported over OTLP/HTTP to `<this>/v1/traces` (src/tracing.ts); unset or empty: none are recorded. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'an http(s) URL, e.g. http://localhost:4318' }).or(z.literal('').transform(() => undefined)).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = ReturnType<typeof loadConfig>;

/**
 * Closed unless opened on purpose (issue 13, rule 1): without a key Herald binds to loopback and
 * a non-loopback bind is a configuration error; the destination guard is on whenever a key is set
 * or Herald is reachable beyond loopback, unless HERALD_ALLOW_PRIVATE_TARGETS=true opens it.
 */
function exposureOf(hostSetting: string | undefined, apiKey: string | undefined, allowPrivateSetting: boolean | undefined) {
  const host = hostSetting ?? (apiKey ? undefined : '127.0.0.1');
  const loopbackOnly = host !== undefined && isLoopbackHost(host);
  if (!loopbackOnly && !apiKey) {
    throw new Error(`invalid configuration:\n  HERALD_HOST: "${host}" is reachable beyond loopback; set HERALD_API_KEY to listen there, or bind 127.0.0.1`);
  }
  const guardedByDefault = Boolean(apiKey) || !loopbackOnly;
  const warnings: string[] = [];
  if (allowPrivateSetting && guardedByDefault) {
    warnings.push('HERALD_ALLOW_PRIVATE_TARGETS=true: endpoints may point at loopback, private and cloud metadata addresses, and every tenant can reach them');
  }
  if (!apiKey) warnings.push('HERALD_API_KEY is not set: every request acts as the admin, so Herald listens on loopback only and answers only loopback host names');
  return { host, allowPrivateTargets: allowPrivateSetting ?? !guardedByDefault, warnings };
}

/** Reads the environment once, at start; everything else receives the result. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  if (production && !e.HERALD_API_KEY) {
    throw new Error('invalid configuration:\n  HERALD_API_KEY: required when NODE_ENV=production');
  }
  const exposure = exposureOf(e.HERALD_HOST, e.HERALD_API_KEY, e.HERALD_ALLOW_PRIVATE_TARGETS);
  const destinations = { allowPrivateTargets: exposure.allowPrivateTargets, requireHttps: production };
  const staticRoutes = loadStaticRoutes(env, e.HERALD_ROUTES_FILE, destinations);
  if (!staticRoutes.ok) throw new Error(`invalid configuration:\n${staticRoutes.errors.map((line) => `  ${line}`).join('\n')}`);
  const dataDir = path.resolve(e.HERALD_DATA_DIR);
  return {
    production,
    port: e.PORT,
    /** Interface the API and the worker metrics bind to; all interfaces when unset (only ever with a key). */
    host: exposure.host,
    /** Without a key, requests must name a loopback host (DNS rebinding); with one, every request needs a key. */
    checkHostHeader: !e.HERALD_API_KEY,
    /** What start-up should say loudly: openings made on purpose. */
    exposureWarnings: exposure.warnings,
    temporal: {
      /** Unset: Herald starts its own dev server (the embedded default). */
      address: e.TEMPORAL_ADDRESS,
      devServerPort: e.HERALD_DEV_SERVER_PORT,
      uiPort: e.HERALD_UI_PORT,
      /** The Web UI as operators' browsers reach it (the embedded one by default). */
      webUiUrl: e.HERALD_TEMPORAL_UI_URL ?? `http://localhost:${e.HERALD_UI_PORT}`,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.HERALD_TASK_QUEUE,
    },
    dataDir,
    databaseUrl: e.DATABASE_URL,
    apiKey: e.HERALD_API_KEY,
    deadLetterRetentionMs: e.HERALD_DEAD_LETTER_RETENTION,
    /**
     * The embedded namespace's retention (the dead-letter retention in whole days, at least one): an event id stays a
     * duplicate this long after its workflow closes, and an erased event's tombstone is kept as long.
     */
    idempotencyWindowMs: Math.max(1, Math.ceil(e.HERALD_DEAD_LETTER_RETENTION / 86_400_000)) * 86_400_000,
    /** Attempt-log rows older than this are pruned daily (a Temporal Schedule). */
    attemptLogRetentionMs: e.HERALD_ATTEMPT_LOG_RETENTION,
    /** Event data and response excerpts of tenants without a retention of their own are erased after this (daily, the same Schedule). */
    payloadRetentionMs: e.HERALD_PAYLOAD_RETENTION,
    /** Audit records older than this are pruned daily (the same Schedule). */
    auditRetentionMs: e.HERALD_AUDIT_RETENTION,
    traffic: {
      circuitFailures: e.HERALD_CIRCUIT_FAILURES,
      circuitCooldownMs: e.HERALD_CIRCUIT_COOLDOWN,
      maxCircuitCooldownMs: e.HERALD_CIRCUIT_MAX_COOLDOWN,
      disableAfterMs: e.HERALD_DISABLE_AFTER,
    } satisfies TrafficSettings,
    /** Endpoints defined by configuration; stored at start, read-only through the API. */
    staticRoutes: staticRoutes.routes,
    /** Static routes defined without a URL, by where they were defined; logged at start. */
    staticRoutesLeftOut: staticRoutes.leftOut,
    /** When true, ingest refuses event types that are not declared in the catalog. */
    strictEventTypes: e.HERALD_STRICT_EVENT_TYPES ?? false,
    /** Where endpoints may point: loopback and private addresses only when allowed, https only in production. */
    destinations,
    /** Deliveries and token requests tunnel through it (the destination guard still checks the receiver); unset: they go direct. */
    egressProxy: e.HERALD_EGRESS_PROXY,
    /** Request bodies larger than this are refused with 413. */
    maxBodyBytes: e.HERALD_MAX_BODY_BYTES,
    http: { requestTimeoutMs: e.HERALD_REQUEST_TIMEOUT, shutdownGraceMs: e.HERALD_SHUTDOWN_GRACE },
    /** What one tenant may ask of Herald (src/quotas.ts). */
    quotas: {
      maxEndpointsPerTenant: e.HERALD_MAX_ENDPOINTS_PER_TENANT,
      minRetryDelayMs: e.HERALD_MIN_RETRY_DELAY,
      maxAttempts: e.HERALD_MAX_ATTEMPTS,
      maxRetryScheduleMs: e.HERALD_MAX_RETRY_SCHEDULE,
      replaysPerMinute: e.HERALD_MAX_REPLAYS_PER_MINUTE,
    },
    /** Throughput settings, measured by `npm run bench` (BENCHMARKS.md). */
    tuning: {
      /** Attempts a worker runs at once. */
      activitySlots: e.HERALD_WORKER_ACTIVITY_SLOTS,
      /** Workflow tasks a worker runs at once. */
      workflowSlots: e.HERALD_WORKER_WORKFLOW_SLOTS,
      /** Workflows kept in a worker's memory between tasks; the SDK sizes it from the heap when unset. */
      cachedWorkflows: e.HERALD_WORKER_CACHED_WORKFLOWS,
      /** Ingest hands an event's first workflow task straight to this process's worker (role `all` only). */
      eagerStart: e.HERALD_EAGER_START,
      /** Each delivery's first attempt as a local activity in the event's first workflow task; retries are activities. */
      firstAttemptLocal: e.HERALD_FIRST_ATTEMPT_LOCAL,
      /** Deliveries reuse connections to a receiver. */
      deliveryKeepAlive: e.HERALD_DELIVERY_KEEP_ALIVE,
      /** How the embedded dev server's SQLite syncs its commits (DevServerOptions.sqliteSync). */
      embeddedSqliteSync: e.HERALD_EMBEDDED_SQLITE_SYNC,
    },
    /** The first key encrypts what Temporal stores, every key decrypts; none: plaintext. */
    payloadKeys: e.HERALD_PAYLOAD_KEYS ?? [],
    /** Browser origins (the Temporal Web UI) allowed to call /codec/* across origins. */
    codecCorsOrigins: e.HERALD_CODEC_CORS_ORIGINS ?? [`http://localhost:${e.HERALD_UI_PORT}`, `http://127.0.0.1:${e.HERALD_UI_PORT}`],
    /** Portal links start with it; unset: with the address the request that issued the link reached. */
    publicUrl: e.HERALD_PUBLIC_URL,
    /** A prebuilt workflow bundle (`workflowBundle: { codePath }`), so that a worker starts without seconds of webpack. */
    workflowBundlePath: e.HERALD_WORKFLOW_BUNDLE && path.resolve(e.HERALD_WORKFLOW_BUNDLE),
    cacheDir: e.HERALD_CACHE_DIR ?? path.join(process.env.HOME ?? '/tmp', '.cache', 'herald'),
    logLevel: e.LOG_LEVEL,
    /** End-to-end traces: the producer's traceparent is always carried; spans are exported only to this OTLP endpoint. */
    tracing: { otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT },
    metrics: {
      /** `/metrics` of a worker-only process; with the API running, `/metrics` is on the API port. */
      port: e.HERALD_METRICS_PORT,
      /** The Temporal SDK's own Prometheus exporter in processes that run a worker; 0 turns it off. */
      temporalPort: e.HERALD_TEMPORAL_METRICS_PORT,
    },
  };
}
