import { type Response, Router } from 'express';
import crypto from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { compileRetryPolicy, retryPolicySchema, type RetryPolicy } from '../delivery/retryPolicy.ts';
import { type DestinationPolicy, urlRefusal } from '../delivery/destinations.ts';
import { subscriptionFor } from '../delivery/subscription.ts';
import { duration } from '../duration.ts';
import { formatNames } from '../formats/index.ts';
import type { Logger } from '../logger.ts';
import { generateSecret, signatureSchema } from '../signing/index.ts';
import { endpointHealth, resetTraffic } from '../delivery/trafficControl.ts';
import type { Db } from '../storage/db.ts';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import { endpointStats, statsWindows, type StatsWindow } from '../storage/endpointStats.ts';
import type { Endpoint, EndpointStore } from '../storage/endpoints.ts';
import { deliveryId, type HeraldEvent, type HeraldTemporal } from '../temporal/heraldTemporal.ts';
import { eventTypePattern, identifier, tenantField } from './fields.ts';
import { resolveTenant } from './auth.ts';
import type { RouteDescription } from './openapi.ts';
import { invalidFields, notFound, parse, Problem } from './problem.ts';

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_ROTATION_GRACE = '24h';
const MAX_ROTATION_GRACE_MS = 30 * 86_400_000;

/** Headers Herald sets itself; an endpoint's static headers may not replace them. */
const reservedHeaders = /^(host|content-type|content-length|user-agent|connection|transfer-encoding|webhook-.*)$/i;

const secretField = z.string().min(8).max(256);

/** Why `secret` cannot sign under `scheme`, or undefined when it can. */
function secretUnfitFor(scheme: string, secret: string): string | undefined {
  if (scheme === 'standard-webhooks' && !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) {
    return 'a Standard Webhooks secret is "whsec_" followed by base64';
  }
  return undefined;
}

const onlyMakeSendsSourceApp = 'only the "make" format sends source_app';

/** Everything an endpoint is configured with, no defaults: the create body adds them, PATCH takes any subset. */
const endpointSettings = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an http or https URL' }),
  eventTypes: z.array(eventTypePattern).min(1).max(100),
  description: z.string().max(500),
  retryPolicy: retryPolicySchema,
  timeoutMs: z.number().int().min(100).max(60_000),
  format: z.enum(formatNames),
  signature: signatureSchema,
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'an HTTP header name'), z.string().max(1024).regex(/^[^\r\n]*$/, 'no line breaks'))
    .refine((h) => !Object.keys(h).some((name) => reservedHeaders.test(name)), 'may not set content-type, user-agent, host or webhook-* headers'),
  enabled: z.boolean(),
  /** `make` format only: the `source_app` it sends (the order form's SOURCE_APP); the tenant by default. */
  sourceApp: z.string().min(1).max(128),
  /** Requests per second to this endpoint across every worker, and how many may go at once after a quiet spell; null: no limit. */
  rateLimit: z.strictObject({
    perSecond: z.number().positive().max(10_000),
    burst: z.number().int().min(1).max(10_000).optional(),
  }).transform(({ perSecond, burst }) => ({ perSecond, burst: burst ?? Math.max(1, Math.ceil(perSecond)) })).nullable()
    .describe('Requests per second to this endpoint across all workers; burst (default: one second\'s worth) may go at once after a quiet spell. Waiting for capacity is not an attempt. null: no limit.'),
  ordering: z.enum(['fifo']).nullable()
    .describe('"fifo": one delivery in flight at a time, in the order Herald accepted the events; null (default): concurrent.'),
  onFailure: z.enum(['block', 'skip'])
    .describe('With "fifo": a delivery that fails for good holds the line until replayed or cancelled ("block", default), or is set aside ("skip").'),
  /** Continuous failure after which Herald disables the endpoint (a duration such as "5d"); null: never. */
  disableAfter: z.string().refine((text) => duration.safeParse(text).success, 'a duration such as "12h" or "5d"').nullable()
    .describe('Continuous failure after which Herald disables the endpoint (default HERALD_DISABLE_AFTER, 5d); null: never.'),
});

const { shape } = endpointSettings;
/** What defines an endpoint: POST /v1/endpoints and the static routes file both take it. */
export const endpointDefinition = endpointSettings.extend({
  eventTypes: shape.eventTypes.default(['*']),
  description: shape.description.default(''),
  // Defaulted by retrySettings: the declared policy is stored as written, and a preset implies a timeout.
  retryPolicy: shape.retryPolicy.optional(),
  timeoutMs: shape.timeoutMs.optional(),
  format: shape.format.default('standard'),
  signature: shape.signature.default({ scheme: 'standard-webhooks' }),
  headers: shape.headers.default({}),
  enabled: shape.enabled.default(true),
  sourceApp: shape.sourceApp.optional(),
  rateLimit: shape.rateLimit.default(null),
  ordering: shape.ordering.default(null),
  onFailure: shape.onFailure.default('block'),
  disableAfter: shape.disableAfter.optional(),
  secret: secretField.optional(),
  tenant: tenantField,
});

/** Rules across the fields of an endpoint definition. */
export function checkEndpointDefinition(
  body: Pick<z.output<typeof endpointDefinition>, 'secret' | 'signature' | 'format' | 'sourceApp'>,
  ctx: z.RefinementCtx,
): void {
  const unfit = body.secret && secretUnfitFor(body.signature.scheme, body.secret);
  if (unfit) ctx.addIssue({ code: 'custom', path: ['secret'], message: unfit });
  if (body.sourceApp !== undefined && body.format !== 'make') ctx.addIssue({ code: 'custom', path: ['sourceApp'], message: onlyMakeSendsSourceApp });
}

const createBody = endpointDefinition.superRefine(checkEndpointDefinition);

/** The policy as declared (durations as written, which is how it is stored) and the timeout it implies. */
export function retrySettings(declared: RetryPolicy | undefined, timeoutMs: number | undefined): { retryPolicy: RetryPolicy; timeoutMs: number } {
  const retryPolicy = declared ?? 'standard';
  return { retryPolicy, timeoutMs: timeoutMs ?? compileRetryPolicy(retryPolicy).presetTimeoutMs ?? DEFAULT_TIMEOUT_MS };
}

/** Static routes belong to configuration; changing one through the API is a conflict. */
export function assertWritable(endpoint: Endpoint): void {
  if (endpoint.readOnly) {
    throw new Problem(409, 'Conflict', `endpoint ${endpoint.id} is the static route "${endpoint.staticRoute?.name}" from configuration; change it there`);
  }
}

const patchBody = endpointSettings.partial().extend({
  secret: z.never({ error: 'not patchable: POST /v1/endpoints/:id/rotate-secret replaces it' }).optional(),
});

const rotateBody = z.strictObject({
  /** How long the replaced secret keeps signing alongside the new one. */
  gracePeriod: duration.prefault(DEFAULT_ROTATION_GRACE).refine((ms) => ms <= MAX_ROTATION_GRACE_MS, 'at most 30d'),
  /** The new secret; generated when omitted. */
  secret: secretField.optional(),
});

const listQuery = z.strictObject({
  tenant: tenantField,
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: identifier.optional(),
});

const tenantQuery = z.object({ tenant: tenantField });

const statsQuery = z.strictObject({
  tenant: tenantField,
  window: z.enum(Object.keys(statsWindows) as [StatsWindow, ...StatsWindow[]]).default('24h'),
});

const readOnly = 'a static route from configuration, not changeable through the API';
export const endpointRoutes: RouteDescription[] = [
  {
    method: 'post', path: '/v1/endpoints', summary: 'Register an endpoint', body: createBody,
    responses: { 201: 'the endpoint with its id and its secret, shown in full only here', 403: 'a tenant key naming another tenant' },
  },
  { method: 'get', path: '/v1/endpoints', summary: 'List endpoints', query: listQuery, responses: { 200: '{ data: [endpoint], nextCursor }' } },
  {
    method: 'get', path: '/v1/endpoints/:id', summary: 'Read an endpoint, with its health', query: tenantQuery,
    responses: { 200: 'the endpoint and health: { state (healthy | degraded | open | disabled), consecutiveFailures, lastSuccessAt, lastFailureAt, circuitOpenUntil }', 404: 'no such endpoint' },
  },
  {
    method: 'get', path: '/v1/endpoints/:id/stats', summary: 'Attempts, deliveries, failures, success rate and latency of the endpoint over a window, from the attempt log', query: statsQuery,
    responses: { 200: '{ window, since, attempts, delivered, failed, successRate, latencyMs: { p50, p95, p99 } }', 404: 'no such endpoint' },
  },
  {
    method: 'patch', path: '/v1/endpoints/:id', summary: 'Change any setting but the secret', query: tenantQuery, body: patchBody,
    responses: { 200: 'the endpoint as changed', 404: 'no such endpoint', 409: readOnly },
  },
  {
    method: 'delete', path: '/v1/endpoints/:id', summary: 'Remove an endpoint; deliveries under way then fail', query: tenantQuery,
    responses: { 204: 'removed', 404: 'no such endpoint', 409: readOnly },
  },
  {
    method: 'post', path: '/v1/endpoints/:id/rotate-secret', summary: 'Replace the secret; the old one keeps signing for the grace period', query: tenantQuery, body: rotateBody, bodyOptional: true,
    responses: { 200: 'the endpoint with the new secret, shown in full only here, and previousSecretExpiresAt', 404: 'no such endpoint', 409: readOnly },
  },
  {
    method: 'post', path: '/v1/endpoints/:id/test', summary: 'Send a herald.test event to this endpoint and answer with the attempt', query: tenantQuery,
    responses: { 200: '{ deliveryId, eventId, status, statusCode, error, durationMs, responseExcerpt }', 404: 'no such endpoint', 504: 'the attempt has not finished in time' },
  },
];

export interface EndpointsDeps {
  db: Db;
  endpoints: EndpointStore;
  temporal: HeraldTemporal;
  log: DeliveryLog;
  destinations: DestinationPolicy;
  logger: Logger;
}

export function endpointsRouter(deps: EndpointsDeps): Router {
  const { endpoints: store, logger } = deps;
  const router = Router();

  /** The tenant a by-id request acts for (`?tenant=` for the admin) and its endpoint; 404 when that tenant has none. */
  const ownedEndpoint = async (req: { params: { id: string }; query: unknown }, res: Response) => {
    const tenant = resolveTenant(res, parse(tenantQuery, req.query, 'query').tenant);
    const endpoint = await store.get(tenant, req.params.id);
    if (!endpoint) throw notFound(`endpoint ${req.params.id}`);
    return endpoint;
  };

  /** Refuses a URL the destination policy forbids, naming `url`. */
  const assertDestinationAllowed = (url: string) => {
    const refusal = urlRefusal(url, deps.destinations);
    if (refusal) throw invalidFields([{ field: 'url', message: refusal }]);
  };

  router.post('/v1/endpoints', async (req, res) => {
    const body = parse(createBody, req.body);
    assertDestinationAllowed(body.url);
    const secret = body.secret ?? generateSecret();
    const endpoint = await store.create({
      ...body,
      ...retrySettings(req.body.retryPolicy, body.timeoutMs),
      tenant: resolveTenant(res, body.tenant),
      secret,
    });
    // The only time the secret is shown in full.
    res.status(201).location(`/v1/endpoints/${endpoint.id}`).json({ ...endpoint, secret });
  });

  router.get('/v1/endpoints', async (req, res) => {
    const query = parse(listQuery, req.query, 'query');
    const page = await store.list(resolveTenant(res, query.tenant), { limit: query.limit, after: query.after });
    res.json({ data: page, nextCursor: page.length === query.limit ? page.at(-1)!.id : null });
  });

  router.get('/v1/endpoints/:id', async (req, res) => {
    const endpoint = await ownedEndpoint(req, res);
    res.json({ ...endpoint, health: await endpointHealth(deps.db, endpoint) });
  });

  router.get('/v1/endpoints/:id/stats', async (req, res) => {
    const { window } = parse(statsQuery, req.query, 'query');
    const endpoint = await ownedEndpoint(req, res);
    res.json(await endpointStats(deps.db, endpoint.id, window));
  });

  router.patch('/v1/endpoints/:id', async (req, res) => {
    const changes = parse(patchBody, req.body);
    if (changes.url !== undefined) assertDestinationAllowed(changes.url);
    const endpoint = await ownedEndpoint(req, res);
    assertWritable(endpoint);
    const { tenant, id } = endpoint;
    if (changes.sourceApp !== undefined && (changes.format ?? endpoint.format) !== 'make') {
      throw new Problem(400, 'Invalid request', onlyMakeSendsSourceApp, [{ field: 'sourceApp', message: onlyMakeSendsSourceApp }]);
    }
    if (changes.signature) {
      const secret = await store.currentSecret(tenant, id);
      if (secret === undefined) throw notFound(`endpoint ${id}`);
      const unfit = secretUnfitFor(changes.signature.scheme, secret);
      if (unfit) throw new Problem(400, 'Invalid request', 'the endpoint\'s secret cannot sign with this scheme', [{ field: 'signature', message: `${unfit}: rotate to such a secret first` }]);
    }
    const { secret: _secret, ...settings } = changes;
    // Stored as declared, like on create.
    const updated = await store.update(tenant, id, { ...settings, retryPolicy: req.body.retryPolicy });
    if (!updated) throw notFound(`endpoint ${id}`);
    // Re-enabled by hand (after auto-disable, say): its circuit and failure streak start afresh.
    if (changes.enabled && !endpoint.enabled) await resetTraffic(deps.db, id);
    logger.info({ tenant, endpointId: id, fields: Object.keys(settings) }, 'endpoint updated');
    res.json(updated);
  });

  router.delete('/v1/endpoints/:id', async (req, res) => {
    const endpoint = await ownedEndpoint(req, res);
    assertWritable(endpoint);
    const { tenant, id } = endpoint;
    if (!(await store.delete(tenant, id))) throw notFound(`endpoint ${id}`);
    logger.info({ tenant, endpointId: id }, 'endpoint deleted');
    res.status(204).end();
  });

  router.post('/v1/endpoints/:id/rotate-secret', async (req, res) => {
    const body = parse(rotateBody, req.body ?? {});
    const endpoint = await ownedEndpoint(req, res);
    assertWritable(endpoint);
    const { tenant, id, signature } = endpoint;
    const unfit = body.secret && secretUnfitFor(signature.scheme, body.secret);
    if (unfit) throw new Problem(400, 'Invalid request', 'the secret cannot sign with the endpoint\'s scheme', [{ field: 'secret', message: unfit }]);
    const secret = body.secret ?? generateSecret();
    const rotated = await store.rotateSecret(tenant, id, secret, body.gracePeriod);
    if (!rotated) throw notFound(`endpoint ${id}`);
    logger.info({ tenant, endpointId: id, previousSecretExpiresAt: rotated.previousSecretExpiresAt }, 'endpoint secret rotated');
    // The only time the new secret is shown in full.
    res.json({ ...rotated.endpoint, secret, previousSecretExpiresAt: rotated.previousSecretExpiresAt });
  });

  router.post('/v1/endpoints/:id/test', async (req, res) => {
    const endpoint = await ownedEndpoint(req, res);
    res.json(await sendTestEvent(deps, endpoint));
  });

  return router;
}

const TEST_EVENT_TYPE = 'herald.test';
/** A failed test stays parked (replayable from the Web UI) this long, not the full dead-letter retention. */
const TEST_DEAD_LETTER_MS = 3_600_000;
/** Time to wait beyond the endpoint's own timeout for a worker to pick the attempt up. */
const TEST_SLACK_MS = 15_000;
const TEST_POLL_MS = 100;

/**
 * Delivers one `herald.test` event to this endpoint only, through an event workflow like any other
 * (one attempt, no retries), and answers with that attempt's outcome from the attempt log.
 */
async function sendTestEvent(deps: EndpointsDeps, endpoint: Endpoint) {
  const event: HeraldEvent = {
    tenant: endpoint.tenant,
    id: `test_${crypto.randomUUID()}`,
    type: TEST_EVENT_TYPE,
    occurredAt: new Date().toISOString(),
    data: { endpointId: endpoint.id, message: 'A test event sent by POST /v1/endpoints/:id/test' },
  };
  const id = deliveryId(event.tenant, event.id, endpoint.id);
  const deadline = Date.now() + endpoint.timeoutMs + TEST_SLACK_MS;
  await deps.temporal.ingest(event, [subscriptionFor(endpoint, 'none')], deadline - Date.now(), TEST_DEAD_LETTER_MS);
  await deps.log.registerPending(event, [{ id, endpointId: endpoint.id }]);
  while (Date.now() < deadline) {
    const attempt = (await deps.log.get(event.tenant, id))?.attempts[0];
    if (attempt) {
      const { statusCode, error, durationMs, responseExcerpt } = attempt;
      return { deliveryId: id, eventId: event.id, status: statusCode !== null && statusCode < 300 ? 'delivered' : 'failed', statusCode, error, durationMs, responseExcerpt };
    }
    await delay(TEST_POLL_MS);
  }
  throw new Problem(504, 'Gateway Timeout', `the test attempt has not finished; follow it as delivery ${id}`);
}
