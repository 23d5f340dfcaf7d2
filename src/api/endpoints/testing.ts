import { Router } from 'express';
import crypto from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { messageIdFor } from '../../delivery/classify.ts';
import { deliveryDispatcher } from '../../delivery/destinations.ts';
import { buildRequest, maskSecrets, type OutboundRequest, type RequestEndpoint, TEST_EVENT_ID_PREFIX } from '../../delivery/request.ts';
import { sendOnce } from '../../delivery/testSend.ts';
import { authHeaderOf, type AuthType } from '../../endpoints/auth.ts';
import { checkEndpointDefinition, DEFAULT_TIMEOUT_MS, endpointDefinition } from '../../endpoints/definition.ts';
import type { Endpoint } from '../../endpoints/store.ts';
import { subscriptionFor } from '../../endpoints/subscription.ts';
import { acceptEvent, newEvent } from '../../events/accept.ts';
import { eventType, identifier } from '../../fields.ts';
import { generateSecret } from '../../signing/index.ts';
import { deliveryId } from '../../temporal/heraldTemporal.ts';
import { TransformError } from '../../transform/index.ts';
import { resolveTenant } from '../auth.ts';
import type { RouteDescription } from '../route.ts';
import { invalidFields, notFound, parse, Problem } from '../problem.ts';
import { assertDestinationAllowed, endpointParams, type EndpointsDeps, ownedEndpointOf, tenantQuery } from './shared.ts';

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
  .pick({ url: true, format: true, signature: true, headers: true, transform: true, sourceApp: true, secret: true, timeoutMs: true, proxy: true })
  .extend(testPayload)
  .superRefine(checkEndpointDefinition);

export const endpointTestingRoutes: RouteDescription[] = [
  {
    method: 'post', path: '/v1/endpoints/:id/preview', summary: 'The exact request this endpoint would receive for an event: method, URL, headers (secrets and signatures masked) and body', params: endpointParams, query: tenantQuery, body: previewBody,
    responses: { 200: '{ method, url, headers, body }', 400: 'invalid event, or the transform fails on it', 404: 'no such endpoint' },
  },
  {
    method: 'post', path: '/v1/endpoints/preview', summary: 'The same for an endpoint definition not yet saved: { endpoint: <as POST /v1/endpoints>, event }', body: previewDefinitionBody,
    responses: { 200: '{ method, url, headers, body }', 400: 'invalid definition or event, or the transform fails on it' },
  },
  {
    method: 'post', path: '/v1/endpoints/test-send', summary: 'Send one test request to a URL (an unsaved endpoint definition plus type and data), under the same address rules as deliveries and through the egress proxy unless `proxy` is false; it carries `herald-test: true`', body: testSendBody,
    responses: { 200: '{ success, statusCode, responseTimeMs, error }', 400: 'invalid definition or a refused URL' },
  },
  {
    method: 'post', path: '/v1/endpoints/:id/test', summary: 'Send a test event (herald.test, or the type and data given) to this endpoint and answer with the attempt; it carries `herald-test: true`', params: endpointParams, query: tenantQuery, body: testBody, bodyOptional: true,
    responses: { 200: '{ deliveryId, eventId, status, statusCode, error, durationMs, responseExcerpt }', 404: 'no such endpoint', 504: 'the attempt has not finished in time' },
  },
];

/** What an endpoint would receive (previews) and what it answers (test sends), saved or not. */
export function endpointTestingRouter(deps: EndpointsDeps): Router {
  const { endpoints: store, logger } = deps;
  const ownedEndpoint = ownedEndpointOf(store);
  const router = Router();
  const guarded = !deps.destinations.allowPrivateTargets;
  const direct = deliveryDispatcher({ guarded, keepAlive: false });
  // A receiver that allow-lists the proxy's address must see its test there too.
  const proxied = deps.egressProxy ? deliveryDispatcher({ guarded, keepAlive: false, proxy: deps.egressProxy }) : direct;

  router.post('/v1/endpoints/preview', async (req, res) => {
    const { endpoint: definition, event, attempt } = parse(previewDefinitionBody, req.body);
    const tenant = resolveTenant(res, definition.tenant);
    const endpoint = { ...definition, id: 'ep_preview', tenant, sourceApp: definition.sourceApp ?? null, transform: definition.transform ?? null, secrets: [definition.secret ?? generateSecret()] };
    res.json(await preview(endpoint, event, attempt));
  });


  router.post('/v1/endpoints/test-send', async (req, res) => {
    const body = parse(testSendBody, req.body);
    assertDestinationAllowed(body.url, deps.destinations);
    const tenant = resolveTenant(res, undefined);
    const event = newEvent({ tenant, id: `${TEST_EVENT_ID_PREFIX}${crypto.randomUUID()}`, type: body.type, data: body.data });
    const endpoint = { ...body, id: 'ep_test_send', sourceApp: body.sourceApp ?? null, transform: body.transform ?? null, secrets: [body.secret ?? ''] };
    const outbound = await built(() => buildRequest({ event, endpoint, attempt: { number: 1, sentAt: new Date(), webhookId: messageIdFor(tenant, event.id) } }));
    const result = await sendOnce(outbound, { timeoutMs: body.timeoutMs ?? DEFAULT_TIMEOUT_MS, dispatcher: body.proxy === false ? direct : proxied });
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
async function preview(endpoint: RequestEndpoint & { tenant: string; auth: { type: AuthType } | null }, event: z.output<typeof previewEvent>, attempt: number, storedHeaders: Record<string, string> = {}) {
  const full = newEvent({ tenant: endpoint.tenant, id: event.id ?? 'evt_preview', type: event.type, occurredAt: event.occurredAt, data: event.data });
  const outbound = await built(() => buildRequest({ event: full, endpoint, attempt: { number: attempt, sentAt: new Date(), webhookId: messageIdFor(full.tenant, full.id) } }));
  const masked = maskSecrets(outbound, endpoint.signature, storedHeaders);
  // Set per attempt (a token fetched then), and a credential: shown as present, never as it is.
  const authHeader = authHeaderOf(endpoint.auth);
  return authHeader ? { ...masked, headers: { ...masked.headers, [authHeader]: '[masked]' } } : masked;
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
