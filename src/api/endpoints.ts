import type { Client } from '@temporalio/client';
import { type Response, Router } from 'express';
import crypto from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { compileRetryPolicy, retryLimitRefusals, retryPolicySchema, type RetryPolicy } from '../delivery/retryPolicy.ts';
import { type DestinationPolicy, urlRefusal } from '../delivery/destinations.ts';
import { subscriptionFor } from '../delivery/subscription.ts';
import { duration } from '../duration.ts';
import { formatNames } from '../formats/index.ts';
import type { Logger } from '../logger.ts';
import { endpointQuotaExceeded, type Quotas } from '../quotas.ts';
import { generateSecret, signatureSchema } from '../signing/index.ts';
import type { Endpoint, EndpointStore } from '../storage/endpoints.ts';
import type { Deliveries } from '../temporal/deliveries.ts';
import { isTemporalUnreachable } from '../temporal/errors.ts';
import type { deliveryWorkflow } from '../../workflows/delivery.ts';
import { deliverySearchAttributes } from '../../workflows/searchAttributes.ts';
import { deliveryWorkflowId, type HeraldEvent } from '../../workflows/types.ts';
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
/** Endpoint ids are identifiers; anything else (a NUL byte, say) is refused before storage sees it. */
export const endpointParams = z.object({ id: identifier });

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
  { method: 'get', path: '/v1/endpoints/:id', summary: 'Read an endpoint', params: endpointParams, query: tenantQuery, responses: { 200: 'the endpoint', 404: 'no such endpoint' } },
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
    method: 'post', path: '/v1/endpoints/:id/test', summary: 'Send a herald.test event to this endpoint and answer with the attempt', params: endpointParams, query: tenantQuery,
    responses: { 200: '{ deliveryId, eventId, status, statusCode, error, durationMs, responseExcerpt }', 404: 'no such endpoint', 504: 'the attempt has not finished in time' },
  },
];

export interface EndpointsDeps {
  endpoints: EndpointStore;
  client: Client;
  deliveries: Deliveries;
  taskQueue: string;
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

  router.post('/v1/endpoints', async (req, res) => {
    const body = parse(createBody, req.body);
    assertDestinationAllowed(body.url);
    assertRetryPolicyWithinLimits(req.body.retryPolicy);
    const tenant = resolveTenant(res, body.tenant);
    if ((await store.count(tenant)) >= deps.quotas.maxEndpointsPerTenant) throw endpointQuotaExceeded(tenant, deps.quotas.maxEndpointsPerTenant);
    const secret = body.secret ?? generateSecret();
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
    res.json(await ownedEndpoint(req, res));
  });

  router.patch('/v1/endpoints/:id', async (req, res) => {
    const changes = parse(patchBody, req.body);
    if (changes.url !== undefined) assertDestinationAllowed(changes.url);
    assertRetryPolicyWithinLimits(req.body.retryPolicy);
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
 * Delivers one `herald.test` event to this endpoint only, through a delivery workflow like
 * any other (one attempt, no retries), and answers with that attempt's outcome.
 */
async function sendTestEvent(deps: EndpointsDeps, endpoint: Endpoint) {
  const event: HeraldEvent = {
    tenant: endpoint.tenant,
    id: `test_${crypto.randomUUID()}`,
    type: TEST_EVENT_TYPE,
    occurredAt: new Date().toISOString(),
    data: { endpointId: endpoint.id, message: 'A test event sent by POST /v1/endpoints/:id/test' },
  };
  const subscription = subscriptionFor(endpoint, 'none');
  const deliveryId = deliveryWorkflowId(event.tenant, event.id, endpoint.id);
  const deadline = Date.now() + endpoint.timeoutMs + TEST_SLACK_MS;
  await deps.client.withDeadline(deadline, () =>
    deps.client.workflow.start<typeof deliveryWorkflow>('deliveryWorkflow', {
      workflowId: deliveryId,
      taskQueue: deps.taskQueue,
      args: [{ event, subscription, deadLetterRetentionMs: TEST_DEAD_LETTER_MS }],
      staticSummary: `${TEST_EVENT_TYPE} → ${subscription.host}`,
      typedSearchAttributes: deliverySearchAttributes(event.tenant, event.type, endpoint.id, 0),
    }),
  );
  while (Date.now() < deadline) {
    // Once started, a slow or unreachable Temporal leaves the outcome unknown (504 below), not unaccepted (503).
    const status = await deps.client
      .withDeadline(deadline, () => deps.deliveries.status(deliveryId))
      .catch((err) => {
        if (isTemporalUnreachable(err)) return undefined;
        throw err;
      });
    const attempt = status?.attempts[0];
    if (attempt) {
      const { statusCode, error, durationMs, responseExcerpt } = attempt;
      return { deliveryId, eventId: event.id, status: status.status, statusCode, error, durationMs, responseExcerpt };
    }
    await delay(TEST_POLL_MS);
  }
  throw new Problem(504, 'Gateway Timeout', `the test attempt has not finished; follow it as delivery ${deliveryId}`);
}
