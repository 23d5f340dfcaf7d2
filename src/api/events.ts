import { Router } from 'express';
import { z } from 'zod';
import { receivingSubscriptions } from '../endpoints/routing.ts';
import { acceptEvent, newEvent } from '../events/accept.ts';
import { eraseEvent } from '../events/erase.ts';
import type { EventCatalog } from '../eventCatalog.ts';
import type { Logger } from '../logger.ts';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import type { EndpointStore } from '../endpoints/store.ts';
import type { TenantDeletions } from '../storage/tenantDeletions.ts';
import { eventWorkflowId, type HeraldTemporal } from '../temporal/heraldTemporal.ts';
import { eventLabels, identifier, MAX_CHANNELS, MAX_TAGS, producedEventType, tenantField } from '../fields.ts';
import { traceContextRequestHeaders } from '../tracing.ts';
import { endpointScope, isAdmin, resolveTenant } from './auth.ts';
import type { RouteDescription } from './route.ts';
import { invalidFields, notFound, parse, Problem } from './problem.ts';

/** How far ahead an event may be scheduled. */
const MAX_SCHEDULE_AHEAD_MS = 30 * 86_400_000;
const DURATION_UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+)(ms|s|m|h|d)$/;

const ingestBody = z.strictObject({
  id: identifier.optional(),
  type: producedEventType,
  data: z.unknown().default({}),
  tenant: tenantField,
  occurredAt: z.iso.datetime({ offset: true }).optional(),
  channels: eventLabels(MAX_CHANNELS).optional()
    .describe(`The event's channels (at most ${MAX_CHANNELS}): an endpoint that names channels receives it only when one of them is here`),
  tags: eventLabels(MAX_TAGS).optional()
    .describe(`Labels kept with the event's deliveries (at most ${MAX_TAGS}), to find them by: GET /v1/deliveries?tag=`),
  deliverAt: z.iso.datetime({ offset: true }).optional()
    .describe('Scheduled delivery: deliver at this time (ISO 8601, in the future, at most 30 days ahead); not with delay'),
  delay: z.string().regex(DURATION, 'a duration: a whole number and a unit of ms, s, m, h or d, e.g. "10m" or "24h"').optional()
    .describe('Scheduled delivery: deliver after this long (e.g. "10m", "24h"; at most 30 days); not with deliverAt'),
});
const eventQuery = z.object({ tenant: tenantField });
const eventParams = z.object({ eventId: identifier });

/** The time `deliverAt` or `delay` asks for and the start delay to it (undefined when neither): in the future, at most 30 days ahead. */
function scheduleOf(body: { deliverAt?: string; delay?: string }, now: number): { deliverAt: string; startDelayMs: number } | undefined {
  if (body.deliverAt !== undefined && body.delay !== undefined) {
    throw invalidFields([{ field: 'delay', message: 'give deliverAt or delay, not both' }]);
  }
  const [field, delayMs] = body.deliverAt !== undefined ? ['deliverAt', Date.parse(body.deliverAt) - now] as const
    : body.delay !== undefined ? ['delay', durationMs(body.delay)] as const : [];
  if (field === undefined) return undefined;
  if (delayMs <= 0) throw invalidFields([{ field, message: 'must be in the future' }]);
  if (delayMs > MAX_SCHEDULE_AHEAD_MS) throw invalidFields([{ field, message: 'may be at most 30 days ahead' }]);
  return { deliverAt: new Date(now + delayMs).toISOString(), startDelayMs: delayMs };
}
const durationMs = (duration: string) => {
  const [, amount, unit] = DURATION.exec(duration)!;
  return Number(amount) * DURATION_UNIT_MS[unit as keyof typeof DURATION_UNIT_MS];
};

export const eventRoutes: RouteDescription[] = [
  {
    method: 'post', path: '/v1/events', summary: 'Ingest an event (the id may also come as an Idempotency-Key header)', body: ingestBody,
    headers: traceContextRequestHeaders,
    responses: {
      202: '{ eventId, workflowId, status: "accepted" }, or with deliverAt/delay { eventId, workflowId, status: "scheduled", deliverAt }',
      200: '{ eventId, workflowId, status: "duplicate" }: the id was seen before (a scheduled or cancelled one included); nothing is delivered again',
      403: 'a tenant key naming another tenant',
      410: 'the tenant is being deleted, or was deleted; nothing was accepted',
      503: 'Temporal is unreachable (with Retry-After); nothing was accepted',
    },
  },
  {
    method: 'get', path: '/v1/events/:eventId', summary: 'The event as ingested and each of its deliveries', params: eventParams, query: eventQuery,
    responses: {
      200: '{ event, status: "scheduled" | "delivering" | "cancelled" | "settled", deliverAt? (a scheduled event), deliveries }',
      404: 'no such event (or erased, or past its retention)',
    },
  },
  {
    method: 'post', path: '/v1/events/:eventId/cancel',
    summary: 'Cancel a scheduled event before it is due: nothing is delivered; its id stays a duplicate. Idempotent',
    params: eventParams, query: eventQuery,
    responses: {
      200: '{ eventId, status: "cancelled" }',
      403: 'a portal session without "replay", or narrowed to endpoints while the event also goes to others',
      404: 'no such event (or erased, or past its retention)',
      409: 'the event is not scheduled: it is due and delivering, or settled (erasing it stops what is still pending)',
    },
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

/**
 * Cancelling stops every delivery of the event: a portal session narrowed to some endpoints may cancel
 * only an event that goes to none but them (one it cannot see at all is a 404, as for GET).
 */
async function assertWholeEventInScope(log: DeliveryLog, res: Parameters<typeof endpointScope>[0], tenant: string, eventId: string): Promise<void> {
  const scope = endpointScope(res);
  if (!scope) return;
  const { data } = await log.list({ tenant, eventId }, { limit: EVENT_DELIVERIES_SHOWN });
  if (!data.some((d) => scope.includes(d.endpointId))) throw notFound(`event ${eventId}`);
  if (data.some((d) => !scope.includes(d.endpointId))) {
    throw new Problem(403, 'Forbidden', `event ${eventId} also goes to endpoints outside this portal session: only a session for all of them may cancel it`);
  }
}

export function eventsRouter(deps: EventsDeps): Router {
  const router = Router();

  router.post('/v1/events', async (req, res) => {
    const body = parse(ingestBody, req.body);
    const headerKey = req.get('idempotency-key');
    if (headerKey !== undefined) parse(identifier, headerKey, 'body');
    if (body.id && headerKey && body.id !== headerKey) {
      throw new Problem(400, 'Invalid request', 'id and Idempotency-Key differ', [{ field: 'id', message: 'must equal the Idempotency-Key header when both are given' }]);
    }
    const event = newEvent({ tenant: resolveTenant(res, body.tenant), id: body.id ?? headerKey, type: body.type, occurredAt: body.occurredAt, data: body.data, channels: body.channels, tags: body.tags });
    const deletion = await deps.deletions.get(event.tenant);
    if (deletion) {
      throw new Problem(410, 'Tenant deleted', deletion.status === 'running' ? `tenant ${event.tenant} is being deleted (since ${deletion.startedAt}): nothing is accepted for it`
        : `tenant ${event.tenant} was deleted at ${deletion.finishedAt}: nothing is accepted for it`, [{ field: 'tenant', message: 'names a deleted tenant' }]);
    }
    const catalogErrors = await deps.catalog.check(event.tenant, event.type, event.data);
    if (catalogErrors.length) throw invalidFields(catalogErrors);
    // Resolved here, into the workflow's input: no Temporal action is spent looking them up, none on an endpoint filtered out.
    const subscriptions = await receivingSubscriptions(await deps.endpoints.subscribedTo(event.tenant, event.type), event);
    const workflowId = eventWorkflowId(event.tenant, event.id);
    const schedule = scheduleOf(body, Date.now());
    if ((await acceptEvent(deps, event, subscriptions, { deadlineMs: START_DEADLINE_MS, ...schedule })) === 'duplicate') {
      deps.logger.info({ eventId: event.id, tenant: event.tenant, workflowId }, 'duplicate event ignored');
      res.status(200).json({ eventId: event.id, workflowId, status: 'duplicate' });
      return;
    }
    if (schedule) {
      const { deliverAt } = schedule;
      deps.logger.info({ eventId: event.id, tenant: event.tenant, eventType: event.type, workflowId, endpoints: subscriptions.length, deliverAt }, 'event scheduled');
      res.status(202).json({ eventId: event.id, workflowId, status: 'scheduled', deliverAt });
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
    const [event, state, deliveries] = await Promise.all([
      deps.temporal.event(tenant, eventId),
      deps.temporal.eventState(tenant, eventId),
      // A tenant key reads no answer of an all-tenant endpoint's receiver (GET /v1/deliveries neither).
      deps.log.list({ tenant, eventId, endpointIds: scope ?? undefined }, { limit: EVENT_DELIVERIES_SHOWN }, { tenantKey: !isAdmin(res) }),
    ]);
    // A portal session narrowed to some endpoints reads only the events delivered to them.
    if (!event || (scope && deliveries.data.length === 0)) throw notFound(`event ${eventId}`);
    res.json({ event, status: state?.status ?? 'settled', ...(state?.deliverAt && { deliverAt: state.deliverAt }), deliveries: deliveries.data });
  });

  router.post('/v1/events/:eventId/cancel', async (req, res) => {
    const { tenant: asked } = parse(eventQuery, req.query, 'query');
    const { eventId } = parse(eventParams, req.params, 'params');
    const tenant = resolveTenant(res, asked);
    await assertWholeEventInScope(deps.log, res, tenant, eventId);
    const outcome = await deps.temporal.cancelScheduled(tenant, eventId);
    if (outcome === 'not-found') throw notFound(`event ${eventId}`);
    if (outcome === 'started') {
      throw new Problem(409, 'Conflict', `event ${eventId} is due and delivering: it can no longer be cancelled (erasing it, DELETE /v1/events/:id, stops what is still pending)`);
    }
    if (outcome === 'closed' && (await deps.temporal.eventState(tenant, eventId))?.status !== 'cancelled') {
      throw new Problem(409, 'Conflict', `event ${eventId} has settled: there is nothing left to cancel`);
    }
    if (outcome === 'cancelled') {
      await deps.log.cancelPending(tenant, eventId);
      deps.logger.info({ tenant, eventId }, 'scheduled event cancelled');
    }
    res.json({ eventId, status: 'cancelled' });
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
