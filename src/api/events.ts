import { Router } from 'express';
import { z } from 'zod';
import { subscriptionFor } from '../endpoints/subscription.ts';
import { acceptEvent, newEvent } from '../events/accept.ts';
import { eraseEvent } from '../events/erase.ts';
import type { EventCatalog } from '../eventCatalog.ts';
import type { Logger } from '../logger.ts';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import type { EndpointStore } from '../endpoints/store.ts';
import type { TenantDeletions } from '../storage/tenantDeletions.ts';
import { eventWorkflowId, type HeraldTemporal } from '../temporal/heraldTemporal.ts';
import { identifier, producedEventType, tenantField } from '../fields.ts';
import { endpointScope, isAdmin, resolveTenant } from './auth.ts';
import type { RouteDescription } from './route.ts';
import { invalidFields, notFound, parse, Problem } from './problem.ts';

const ingestBody = z.strictObject({
  id: identifier.optional(),
  type: producedEventType,
  data: z.unknown().default({}),
  tenant: tenantField,
  occurredAt: z.iso.datetime({ offset: true }).optional(),
});
const eventQuery = z.object({ tenant: tenantField });
const eventParams = z.object({ eventId: identifier });

export const eventRoutes: RouteDescription[] = [
  {
    method: 'post', path: '/v1/events', summary: 'Ingest an event (the id may also come as an Idempotency-Key header)', body: ingestBody,
    responses: {
      202: '{ eventId, workflowId, status: "accepted" }',
      200: '{ eventId, workflowId, status: "duplicate" }: the id was seen before; nothing is delivered again',
      403: 'a tenant key naming another tenant',
      410: 'the tenant is being deleted, or was deleted; nothing was accepted',
      503: 'Temporal is unreachable (with Retry-After); nothing was accepted',
    },
  },
  {
    method: 'get', path: '/v1/events/:eventId', summary: 'The event as ingested and each of its deliveries', params: eventParams, query: eventQuery,
    responses: { 200: '{ event, status: "delivering" | "settled", deliveries }', 404: 'no such event (or erased, or past its retention)' },
  },
  {
    method: 'delete', path: '/v1/events/:eventId',
    summary: "Erase an event: cancel what is pending, delete its workflow executions, blank its attempts' response excerpts; its id stays a duplicate for the idempotency window. Idempotent",
    params: eventParams, query: eventQuery,
    responses: {
      200: '{ eventId, erasedAt, removed: { workflowExecutions, deliveriesCancelled, attemptExcerpts } }: what this request removed (zeros when erased before)',
      403: 'a tenant key naming another tenant',
      404: 'Herald never had the event',
    },
  },
];

export interface EventsDeps {
  temporal: HeraldTemporal;
  endpoints: EndpointStore;
  log: DeliveryLog;
  catalog: EventCatalog;
  deletions: Pick<TenantDeletions, 'get'>;
  logger: Logger;
}

const START_DEADLINE_MS = 5_000;
/** An event's deliveries listed with it. */
const EVENT_DELIVERIES_SHOWN = 1000;

export function eventsRouter(deps: EventsDeps): Router {
  const router = Router();

  router.post('/v1/events', async (req, res) => {
    const body = parse(ingestBody, req.body);
    const headerKey = req.get('idempotency-key');
    if (headerKey !== undefined) parse(identifier, headerKey, 'body');
    if (body.id && headerKey && body.id !== headerKey) {
      throw new Problem(400, 'Invalid request', 'id and Idempotency-Key differ', [{ field: 'id', message: 'must equal the Idempotency-Key header when both are given' }]);
    }
    const event = newEvent({ tenant: resolveTenant(res, body.tenant), id: body.id ?? headerKey, type: body.type, occurredAt: body.occurredAt, data: body.data });
    const deletion = await deps.deletions.get(event.tenant);
    if (deletion) {
      throw new Problem(410, 'Tenant deleted', deletion.status === 'running' ? `tenant ${event.tenant} is being deleted (since ${deletion.startedAt}): nothing is accepted for it`
        : `tenant ${event.tenant} was deleted at ${deletion.finishedAt}: nothing is accepted for it`, [{ field: 'tenant', message: 'names a deleted tenant' }]);
    }
    const catalogErrors = await deps.catalog.check(event.tenant, event.type, event.data);
    if (catalogErrors.length) throw invalidFields(catalogErrors);
    // Resolved here, into the workflow's input: no Temporal action is spent looking them up.
    const subscriptions = (await deps.endpoints.subscribedTo(event.tenant, event.type)).map((endpoint) => subscriptionFor(endpoint));
    const workflowId = eventWorkflowId(event.tenant, event.id);
    if ((await acceptEvent(deps, event, subscriptions, { deadlineMs: START_DEADLINE_MS })) === 'duplicate') {
      deps.logger.info({ eventId: event.id, tenant: event.tenant, workflowId }, 'duplicate event ignored');
      res.status(200).json({ eventId: event.id, workflowId, status: 'duplicate' });
      return;
    }
    deps.logger.info({ eventId: event.id, tenant: event.tenant, eventType: event.type, workflowId, endpoints: subscriptions.length }, 'event accepted');
    res.status(202).json({ eventId: event.id, workflowId, status: 'accepted' });
  });

  /** The event as ingested (from its workflow) and each of its deliveries (from the attempt log). */
  router.get('/v1/events/:eventId', async (req, res) => {
    const { tenant: asked } = parse(eventQuery, req.query, 'query');
    const { eventId } = parse(eventParams, req.params, 'params');
    const tenant = resolveTenant(res, asked);
    const scope = endpointScope(res);
    const [event, running, deliveries] = await Promise.all([
      deps.temporal.event(tenant, eventId),
      deps.temporal.isRunning(tenant, eventId),
      // A tenant key reads no answer of an all-tenant endpoint's receiver (GET /v1/deliveries neither).
      deps.log.list({ tenant, eventId, endpointIds: scope ?? undefined }, { limit: EVENT_DELIVERIES_SHOWN }, { tenantKey: !isAdmin(res) }),
    ]);
    // A portal session narrowed to some endpoints reads only the events delivered to them.
    if (!event || (scope && deliveries.data.length === 0)) throw notFound(`event ${eventId}`);
    res.json({ event, status: running ? 'delivering' : 'settled', deliveries: deliveries.data });
  });

  router.delete('/v1/events/:eventId', async (req, res) => {
    const { tenant: asked } = parse(eventQuery, req.query, 'query');
    const { eventId } = parse(eventParams, req.params, 'params');
    const tenant = resolveTenant(res, asked);
    const erasure = await eraseEvent(deps, tenant, eventId);
    if (!erasure) throw notFound(`event ${eventId}`);
    deps.logger.info({ tenant, eventId, removed: erasure.removed }, 'event erased');
    res.json(erasure);
  });

  return router;
}
