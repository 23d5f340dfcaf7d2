import { type Response, Router } from 'express';
import crypto from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { retryLimitRefusals, type RetryPolicy } from '../delivery/retryPolicy.ts';
import { type DestinationPolicy, urlRefusal } from '../delivery/destinations.ts';
import { subscriptionFor } from '../endpoints/subscription.ts';
import { acceptEvent, newEvent } from '../events/accept.ts';
import { duration } from '../duration.ts';
import type { Logger } from '../logger.ts';
import { messageIdFor } from '../delivery/classify.ts';
import { deliveryDispatcher } from '../delivery/destinations.ts';
import { buildRequest, maskSecrets, type OutboundRequest, type RequestEndpoint, TEST_EVENT_ID_PREFIX } from '../delivery/request.ts';
import { sendOnce } from '../delivery/testSend.ts';
import { endpointQuotaRefusal, type Quotas } from '../quotas.ts';
import { generateSecret } from '../signing/index.ts';
import { sampleInput, TransformError, transformProblem, type TransformDefinition } from '../transform/index.ts';
import { endpointHealth, resetTraffic } from '../endpoints/trafficControl.ts';
import type { Db } from '../storage/db.ts';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import { endpointStats, statsWindows, type StatsWindow } from '../storage/endpointStats.ts';
import type { Endpoint, EndpointStore } from '../storage/endpoints.ts';
import { deliveryId, type HeraldTemporal } from '../temporal/heraldTemporal.ts';
import { eventType, identifier, tenantField } from '../fields.ts';
import { isAdmin, resolveTenant } from './auth.ts';
import {
  checkEndpointDefinition, DEFAULT_TIMEOUT_MS, endpointDefinition, endpointSettings, onlyMakeSendsSourceApp, retrySettings, secretField,
  secretUnfitFor, transformDefinitionProblems,
} from '../endpoints/definition.ts';
import type { RouteDescription } from './openapi.ts';
import { invalidFields, notFound, parse, Problem } from './problem.ts';

/** Runs the transform on a sample event (a runaway or failing expression is a 400 naming its field). */
export async function assertTransformRuns(endpoint: { id: string; tenant: string; sourceApp: string | null; eventTypes: string[]; transform: TransformDefinition | null | undefined }): Promise<void> {
  if (!endpoint.transform) return;
  const problem = await transformProblem(endpoint.transform, sampleInput(endpoint));
  if (problem) throw invalidFields([{ field: problem.field, message: `${problem.message}, on a sample event` }]);
}

const createBody = endpointDefinition.superRefine(checkEndpointDefinition);

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

const DEFAULT_ROTATION_GRACE = '24h';
const MAX_ROTATION_GRACE_MS = 30 * 86_400_000;

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
    const event = newEvent({ tenant, id: `${TEST_EVENT_ID_PREFIX}${crypto.randomUUID()}`, type: body.type, data: body.data });
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
    const overQuota = endpointQuotaRefusal(tenant, await store.count(tenant), deps.quotas.maxEndpointsPerTenant);
    if (overQuota) throw new Problem(409, 'Quota exceeded', overQuota, [{ field: 'tenant', message: overQuota }]);
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
  const full = newEvent({ tenant: endpoint.tenant, id: event.id ?? 'evt_preview', type: event.type, occurredAt: event.occurredAt, data: event.data });
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
  // Recognisable at the receiver: a `herald-test: true` header (buildRequest), and an id no producer can post.
  const event = newEvent({ tenant: endpoint.tenant, id: `${TEST_EVENT_ID_PREFIX}${crypto.randomUUID()}`, type: payload.type, data: payload.data });
  const id = deliveryId(event.tenant, event.id, endpoint.id);
  const deadline = Date.now() + endpoint.timeoutMs + TEST_SLACK_MS;
  await acceptEvent(deps, event, [subscriptionFor(endpoint, 'none')], { deadlineMs: deadline - Date.now(), deadLetterRetentionMs: TEST_DEAD_LETTER_MS });
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
