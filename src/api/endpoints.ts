import { type Response, Router } from 'express';
import crypto from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { compileRetryPolicy, retryLimitRefusals, retryPolicySchema, type RetryPolicy } from '../delivery/retryPolicy.ts';
import { type DestinationPolicy, urlRefusal } from '../delivery/destinations.ts';
import { staticHeaders } from '../delivery/headers.ts';
import { subscriptionFor } from '../delivery/subscription.ts';
import { duration } from '../duration.ts';
import { formatNames } from '../formats/index.ts';
import type { Logger } from '../logger.ts';
import { messageIdFor } from '../delivery/classify.ts';
import { deliveryDispatcher } from '../delivery/destinations.ts';
import { buildRequest, maskSecrets, type OutboundRequest, protectedHeaders, type RequestEndpoint, TEST_EVENT_ID_PREFIX } from '../delivery/request.ts';
import { sendOnce } from '../delivery/testSend.ts';
import { endpointQuotaExceeded, type Quotas } from '../quotas.ts';
import { generateSecret, signatureSchema, type SignatureConfig } from '../signing/index.ts';
import { compileTransform, sampleInput, TransformError, transformSchema, type TransformDefinition } from '../transform/index.ts';
import { transformProblem } from '../transform/sandboxed.ts';
import { endpointHealth, resetTraffic } from '../delivery/trafficControl.ts';
import type { Db } from '../storage/db.ts';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import { endpointStats, statsWindows, type StatsWindow } from '../storage/endpointStats.ts';
import type { Endpoint, EndpointStore } from '../storage/endpoints.ts';
import { SEALED_PREFIX } from '../storage/secretCipher.ts';
import { deliveryId, type HeraldEvent, type HeraldTemporal } from '../temporal/heraldTemporal.ts';
import { endpointUrl, eventType, eventTypePattern, identifier, tenantField } from './fields.ts';
import { isAdmin, resolveTenant } from './auth.ts';
import type { RouteDescription } from './openapi.ts';
import { invalidFields, notFound, parse, Problem } from './problem.ts';

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_ROTATION_GRACE = '24h';
const MAX_ROTATION_GRACE_MS = 30 * 86_400_000;

/** Any length here: a legacy shared secret is only compared, so even a short one keeps working. */
const secretField = z.string().min(1).max(256).refine((secret) => !secret.startsWith(SEALED_PREFIX), `may not start with "${SEALED_PREFIX}", the mark of a sealed secret`);
const MIN_SIGNING_SECRET_LENGTH = 8;

/** Why `secret` cannot sign under `scheme`, or undefined when it can. */
function secretUnfitFor(scheme: string, secret: string): string | undefined {
  if (scheme === 'standard-webhooks' && !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) {
    return 'a Standard Webhooks secret is "whsec_" followed by base64';
  }
  if (scheme !== 'shared-secret' && secret.length < MIN_SIGNING_SECRET_LENGTH) return `at least ${MIN_SIGNING_SECRET_LENGTH} characters to sign with`;
  return undefined;
}

/** Schemes that may run without a secret: they then send no secret or signature header (the order form without WEBHOOK_SECRET). */
export const secretOptional = (scheme: string) => scheme === 'shared-secret' || scheme === 'hmac-sha256' || scheme === 'none';

const onlyMakeSendsSourceApp = 'only the "make" format sends source_app';

/** Everything an endpoint is configured with, no defaults: the create body adds them, PATCH takes any subset. */
const endpointSettings = z.strictObject({
  url: endpointUrl,
  eventTypes: z.array(eventTypePattern).min(1).max(100),
  description: z.string().max(500),
  retryPolicy: retryPolicySchema,
  timeoutMs: z.number().int().min(100).max(60_000),
  format: z.enum(formatNames),
  signature: signatureSchema,
  headers: staticHeaders,
  enabled: z.boolean(),
  /** `make` format only: the `source_app` it sends (the order form's SOURCE_APP); the tenant by default. */
  sourceApp: z.string().min(1).max(128),
  /** JSONata expressions for the body and headers, instead of the format preset; null removes it. */
  transform: transformSchema.nullable().describe('JSONata expressions for the body and headers, evaluated per attempt against {event, attempt, endpoint}; null removes it (docs/integrations.md#request-transforms)'),
  /** Receive the matching events of every tenant (admin key only). */
  allTenants: z.boolean().describe('admin key only: receive the matching events of every tenant'),
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
  transform: shape.transform.optional(),
  allTenants: shape.allTenants.default(false),
  /** Generated when omitted; null for none (shared-secret, hmac-sha256 and none only). */
  secret: secretField.nullable().optional().describe('generated when omitted; null for none (shared-secret, hmac-sha256 and none send no secret or signature header)'),
  rateLimit: shape.rateLimit.default(null),
  ordering: shape.ordering.default(null),
  onFailure: shape.onFailure.default('block'),
  disableAfter: shape.disableAfter.optional(),
  tenant: tenantField,
});

/** Rules across the fields of an endpoint definition. */
export function checkEndpointDefinition(
  body: Pick<z.output<typeof endpointDefinition>, 'secret' | 'signature' | 'format' | 'sourceApp' | 'transform'>,
  ctx: z.RefinementCtx,
): void {
  const unfit = body.secret && secretUnfitFor(body.signature.scheme, body.secret);
  if (unfit) ctx.addIssue({ code: 'custom', path: ['secret'], message: unfit });
  if (body.secret === null && !secretOptional(body.signature.scheme)) {
    ctx.addIssue({ code: 'custom', path: ['secret'], message: `signature "${body.signature.scheme}" needs a secret` });
  }
  if (body.sourceApp !== undefined && body.format !== 'make' && !body.transform) ctx.addIssue({ code: 'custom', path: ['sourceApp'], message: onlyMakeSendsSourceApp });
  if (body.transform) for (const problem of transformDefinitionProblems(body.transform, body.signature)) ctx.addIssue({ code: 'custom', ...problem });
}

/**
 * Headers a transform may not set, each with its path under `transform`. Its expressions are
 * compiled on a sandbox thread (assertTransformRuns, buildRequest): compiling tenant text can take
 * seconds (a 5,000-step path took 1.5 s).
 */
export function transformDefinitionProblems(transform: TransformDefinition, signature: SignatureConfig): { path: string[]; message: string }[] {
  const forbidden = protectedHeaders(signature);
  return Object.keys(transform.headers ?? {})
    .filter((name) => forbidden.has(name.toLowerCase()))
    .map((name) => ({ path: ['transform', 'headers', name], message: 'set by Herald (deduplication id, secret, signature) or frames the request, as for static headers; it cannot be chosen' }));
}

/** Syntax errors and regexes, for configuration read once at start (the API compiles on a sandbox thread). */
export function transformSyntaxProblems(transform: TransformDefinition): { path: string[]; message: string }[] {
  try {
    compileTransform(transform);
    return [];
  } catch (err) {
    if (!(err instanceof TransformError)) throw err;
    return [{ path: err.field.split('.'), message: err.explanation }];
  }
}

/** Runs the transform on a sample event (a runaway or failing expression is a 400 naming its field). */
export async function assertTransformRuns(endpoint: { id: string; tenant: string; sourceApp: string | null; eventTypes: string[]; transform: TransformDefinition | null | undefined }): Promise<void> {
  if (!endpoint.transform) return;
  const problem = await transformProblem(endpoint.transform, sampleInput(endpoint));
  if (problem) throw invalidFields([{ field: problem.field, message: problem.onSample ? `${problem.message}, on a sample event` : problem.message }]);
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
  allTenants: z.never({ error: 'not patchable: create an all-tenant endpoint anew' }).optional(),
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
/** Endpoint ids are identifiers; anything else (a NUL byte, say) is refused before storage sees it. */
export const endpointParams = z.object({ id: identifier });

const TEST_EVENT_TYPE = 'herald.test';
/** What a test sends: by default a `herald.test` event; the caller may choose the type and data its receiver expects. */
const testPayload = { type: eventType.default(TEST_EVENT_TYPE), data: z.unknown().default({ message: 'A test event sent by Herald' }) };
const testBody = z.strictObject(testPayload);

/** An event to preview a request with; id, time and tenant default to a made-up event's. */
const previewEvent = z.strictObject({
  type: eventType,
  data: z.unknown().default({}),
  id: identifier.optional(),
  occurredAt: z.iso.datetime({ offset: true }).optional(),
});
const previewAttempt = z.number().int().min(1).max(1000).default(1);
const previewBody = z.strictObject({ event: previewEvent, attempt: previewAttempt });
const previewDefinitionBody = z.strictObject({ endpoint: endpointDefinition.superRefine(checkEndpointDefinition), event: previewEvent, attempt: previewAttempt });

/** A one-off test send to a URL: an unsaved endpoint definition and the event to send (the SaaS platform's "test endpoint"). */
const testSendBody = endpointDefinition
  .pick({ url: true, format: true, signature: true, headers: true, transform: true, sourceApp: true, secret: true, timeoutMs: true })
  .extend(testPayload)
  .superRefine(checkEndpointDefinition);

const statsQuery = z.strictObject({
  tenant: tenantField,
  window: z.enum(Object.keys(statsWindows) as [StatsWindow, ...StatsWindow[]]).default('24h'),
});

const readOnly = 'a static route from configuration, not changeable through the API';
export const endpointRoutes: RouteDescription[] = [
  {
    method: 'post', path: '/v1/endpoints', summary: 'Register an endpoint', body: createBody,
    responses: {
      201: 'the endpoint with its id and its secret, shown in full only here', 403: 'a tenant key naming another tenant',
      409: 'the tenant has as many endpoints as HERALD_MAX_ENDPOINTS_PER_TENANT allows',
    },
  },
  { method: 'get', path: '/v1/endpoints', summary: 'List endpoints', query: listQuery, responses: { 200: '{ data: [endpoint], nextCursor }' } },
  {
    method: 'get', path: '/v1/endpoints/:id', summary: 'Read an endpoint, with its health', params: endpointParams, query: tenantQuery,
    responses: { 200: 'the endpoint and health: { state (healthy | degraded | open | disabled), consecutiveFailures, lastSuccessAt, lastFailureAt, circuitOpenUntil }', 404: 'no such endpoint' },
  },
  {
    method: 'get', path: '/v1/endpoints/:id/stats', summary: 'Attempts, deliveries, failures, success rate and latency of the endpoint over a window, from the attempt log', params: endpointParams, query: statsQuery,
    responses: { 200: '{ window, since, attempts, delivered, failed, successRate, latencyMs: { p50, p95, p99 } }', 404: 'no such endpoint' },
  },
  {
    method: 'patch', path: '/v1/endpoints/:id', summary: 'Change any setting but the secret', params: endpointParams, query: tenantQuery, body: patchBody,
    responses: { 200: 'the endpoint as changed', 404: 'no such endpoint', 409: readOnly },
  },
  {
    method: 'delete', path: '/v1/endpoints/:id', summary: 'Remove an endpoint; deliveries under way then fail', params: endpointParams, query: tenantQuery,
    responses: { 204: 'removed', 404: 'no such endpoint', 409: readOnly },
  },
  {
    method: 'post', path: '/v1/endpoints/:id/rotate-secret', summary: 'Replace the secret; the old one keeps signing for the grace period', params: endpointParams, query: tenantQuery, body: rotateBody, bodyOptional: true,
    responses: { 200: 'the endpoint with the new secret, shown in full only here, and previousSecretExpiresAt', 404: 'no such endpoint', 409: readOnly },
  },
  {
    method: 'post', path: '/v1/endpoints/:id/preview', summary: 'The exact request this endpoint would receive for an event: method, URL, headers (secrets and signatures masked) and body', params: endpointParams, query: tenantQuery, body: previewBody,
    responses: { 200: '{ method, url, headers, body }', 400: 'invalid event, or the transform fails on it', 404: 'no such endpoint' },
  },
  {
    method: 'post', path: '/v1/endpoints/preview', summary: 'The same for an endpoint definition not yet saved: { endpoint: <as POST /v1/endpoints>, event }', body: previewDefinitionBody,
    responses: { 200: '{ method, url, headers, body }', 400: 'invalid definition or event, or the transform fails on it' },
  },
  {
    method: 'post', path: '/v1/endpoints/test-send', summary: 'Send one test request to a URL (an unsaved endpoint definition plus type and data), under the same address rules as deliveries; it carries `herald-test: true`', body: testSendBody,
    responses: { 200: '{ success, statusCode, responseTimeMs, error }', 400: 'invalid definition or a refused URL' },
  },
  {
    method: 'post', path: '/v1/endpoints/:id/test', summary: 'Send a test event (herald.test, or the type and data given) to this endpoint and answer with the attempt; it carries `herald-test: true`', params: endpointParams, query: tenantQuery, body: testBody, bodyOptional: true,
    responses: { 200: '{ deliveryId, eventId, status, statusCode, error, durationMs, responseExcerpt }', 404: 'no such endpoint', 504: 'the attempt has not finished in time' },
  },
];

export interface EndpointsDeps {
  db: Db;
  endpoints: EndpointStore;
  temporal: HeraldTemporal;
  log: DeliveryLog;
  destinations: DestinationPolicy;
  quotas: Quotas;
  logger: Logger;
}

export function endpointsRouter(deps: EndpointsDeps): Router {
  const { endpoints: store, logger } = deps;
  const router = Router();

  /** The tenant a by-id request acts for (`?tenant=` for the admin) and its endpoint; 404 when that tenant has none. */
  const ownedEndpoint = async (req: { params: { id: string }; query: unknown }, res: Response) => {
    const { id } = parse(endpointParams, req.params, 'params');
    const tenant = resolveTenant(res, parse(tenantQuery, req.query, 'query').tenant);
    const endpoint = await store.get(tenant, id);
    if (!endpoint) throw notFound(`endpoint ${req.params.id}`);
    // It receives every tenant's events: a tenant key may neither read nor steer it.
    if (endpoint.allTenants && !isAdmin(res)) throw notFound(`endpoint ${req.params.id}`);
    return endpoint;
  };

  /** Refuses a URL the destination policy forbids, naming `url`. */
  const assertDestinationAllowed = (url: string) => {
    const refusal = urlRefusal(url, deps.destinations);
    if (refusal) throw invalidFields([{ field: 'url', message: refusal }]);
  };

  /** Refuses a retry policy beyond the tenant quotas, naming the field and the limit. */
  const assertRetryPolicyWithinLimits = (declared: RetryPolicy | undefined) => {
    const refusals = declared === undefined ? [] : retryLimitRefusals(declared, deps.quotas);
    if (refusals.length) throw invalidFields(refusals);
  };

  const testDispatcher = deliveryDispatcher({ guarded: !deps.destinations.allowPrivateTargets, keepAlive: false });

  router.post('/v1/endpoints/preview', async (req, res) => {
    const { endpoint: definition, event, attempt } = parse(previewDefinitionBody, req.body);
    const tenant = resolveTenant(res, definition.tenant);
    const endpoint = { ...definition, id: 'ep_preview', tenant, sourceApp: definition.sourceApp ?? null, transform: definition.transform ?? null, secrets: [definition.secret ?? generateSecret()] };
    res.json(await preview(endpoint, event, attempt));
  });

  router.post('/v1/endpoints/test-send', async (req, res) => {
    const body = parse(testSendBody, req.body);
    assertDestinationAllowed(body.url);
    const tenant = resolveTenant(res, undefined);
    const event: HeraldEvent = { tenant, id: `${TEST_EVENT_ID_PREFIX}${crypto.randomUUID()}`, type: body.type, occurredAt: new Date().toISOString(), data: body.data };
    const endpoint = { ...body, id: 'ep_test_send', sourceApp: body.sourceApp ?? null, transform: body.transform ?? null, secrets: [body.secret ?? ''] };
    const outbound = await built(() => buildRequest({ event, endpoint, attempt: { number: 1, sentAt: new Date(), webhookId: messageIdFor(tenant, event.id) } }));
    const result = await sendOnce(outbound, { timeoutMs: body.timeoutMs ?? DEFAULT_TIMEOUT_MS, dispatcher: testDispatcher });
    logger.info({ tenant, host: new URL(body.url).host, success: result.success, statusCode: result.statusCode }, 'test send');
    res.json(result);
  });

  router.post('/v1/endpoints/:id/preview', async (req, res) => {
    const { event, attempt } = parse(previewBody, req.body);
    const { id, tenant } = await ownedEndpoint(req, res);
    const endpoint = await store.forDelivery(tenant, id);
    if (!endpoint) throw notFound(`endpoint ${id}`);
    res.json(await preview(endpoint, event, attempt, endpoint.headers));
  });

  router.post('/v1/endpoints', async (req, res) => {
    const body = parse(createBody, req.body);
    assertDestinationAllowed(body.url);
    assertRetryPolicyWithinLimits(req.body.retryPolicy);
    if (body.allTenants && !isAdmin(res)) throw new Problem(403, 'Forbidden', 'an endpoint for every tenant needs the admin key', [{ field: 'allTenants', message: 'admin key only' }]);
    const tenant = resolveTenant(res, body.tenant);
    if ((await store.count(tenant)) >= deps.quotas.maxEndpointsPerTenant) throw endpointQuotaExceeded(tenant, deps.quotas.maxEndpointsPerTenant);
    await assertTransformRuns({ id: 'ep_new', tenant, sourceApp: body.sourceApp ?? null, eventTypes: body.eventTypes, transform: body.transform });
    const secret = body.secret === null ? '' : body.secret ?? generateSecret();
    const endpoint = await store.create({
      ...body,
      ...retrySettings(req.body.retryPolicy, body.timeoutMs),
      tenant,
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
    assertRetryPolicyWithinLimits(req.body.retryPolicy);
    const endpoint = await ownedEndpoint(req, res);
    assertWritable(endpoint);
    const { tenant, id } = endpoint;
    if (changes.sourceApp !== undefined && (changes.format ?? endpoint.format) !== 'make' && !(changes.transform ?? endpoint.transform)) {
      throw new Problem(400, 'Invalid request', onlyMakeSendsSourceApp, [{ field: 'sourceApp', message: onlyMakeSendsSourceApp }]);
    }
    if (changes.signature) {
      const secret = await store.currentSecret(tenant, id);
      if (secret === undefined) throw notFound(`endpoint ${id}`);
      const unfit = secretUnfitFor(changes.signature.scheme, secret);
      if (unfit) throw new Problem(400, 'Invalid request', 'the endpoint\'s secret cannot sign with this scheme', [{ field: 'signature', message: `${unfit}: rotate to such a secret first` }]);
    }
    const transform = changes.transform === undefined ? endpoint.transform : changes.transform;
    if (transform && (changes.transform !== undefined || changes.signature)) {
      const problems = transformDefinitionProblems(transform, changes.signature ?? endpoint.signature);
      if (problems.length) throw invalidFields(problems.map(({ path, message }) => ({ field: path.join('.'), message })));
      await assertTransformRuns({ ...endpoint, ...changes, transform });
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
    const payload = parse(testBody, req.body ?? {});
    const endpoint = await ownedEndpoint(req, res);
    res.json(await sendTestEvent(deps, endpoint, payload));
  });

  return router;
}

/**
 * The request buildRequest makes for a previewed event, secrets and `storedHeaders` (a saved endpoint's
 * static headers) masked; a failing transform is a 400 naming its field.
 */
async function preview(endpoint: RequestEndpoint & { tenant: string }, event: z.output<typeof previewEvent>, attempt: number, storedHeaders: Record<string, string> = {}) {
  const full: HeraldEvent = {
    tenant: endpoint.tenant, id: event.id ?? 'evt_preview', type: event.type,
    occurredAt: event.occurredAt ? new Date(event.occurredAt).toISOString() : new Date().toISOString(), data: event.data,
  };
  const outbound = await built(() => buildRequest({ event: full, endpoint, attempt: { number: attempt, sentAt: new Date(), webhookId: messageIdFor(full.tenant, full.id) } }));
  return maskSecrets(outbound, endpoint.signature, storedHeaders);
}

/** Runs buildRequest; a failing transform is the caller's mistake: 400 naming the expression. */
async function built(build: () => Promise<OutboundRequest>): Promise<OutboundRequest> {
  try {
    return await build();
  } catch (err) {
    if (err instanceof TransformError) throw invalidFields([{ field: err.field, message: err.explanation }]);
    throw err;
  }
}

/** A failed test stays parked (replayable from the Web UI) this long, not the full dead-letter retention. */
const TEST_DEAD_LETTER_MS = 3_600_000;
/** Time to wait beyond the endpoint's own timeout for a worker to pick the attempt up. */
const TEST_SLACK_MS = 15_000;
const TEST_POLL_MS = 100;

/**
 * Delivers one `herald.test` event to this endpoint only, through an event workflow like any other
 * (one attempt, no retries), and answers with that attempt's outcome from the attempt log.
 */
async function sendTestEvent(deps: EndpointsDeps, endpoint: Endpoint, payload: z.output<typeof testBody>) {
  const event: HeraldEvent = {
    tenant: endpoint.tenant,
    // Recognisable at the receiver: a `herald-test: true` header (buildRequest), and an id no producer can post.
    id: `${TEST_EVENT_ID_PREFIX}${crypto.randomUUID()}`,
    type: payload.type,
    occurredAt: new Date().toISOString(),
    data: payload.data,
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
