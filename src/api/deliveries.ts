import { Router } from 'express';
import { z } from 'zod';
import { replayDelivery } from '../endpoints/recover.ts';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import type { ReplayLimiter } from '../quotas.ts';
import type { EndpointStore } from '../endpoints/store.ts';
import { type HeraldTemporal, parseDeliveryId } from '../temporal/heraldTemporal.ts';
import { deliveryStatusNames } from '../../workflows/contract.ts';
import { endpointScope, isAdmin, mayActFor, resolveTenant } from './auth.ts';
import { eventLabel, eventType, identifier, tenantField } from '../fields.ts';
import type { RouteDescription } from './route.ts';
import { notFound, parse, Problem } from './problem.ts';

const statusName = z.enum(deliveryStatusNames);

const listQuery = z.strictObject({
  tenant: tenantField,
  status: statusName.optional(),
  endpointId: identifier.optional(),
  eventType: eventType.optional(),
  eventId: identifier.optional(),
  tag: eventLabel.optional().describe('only deliveries of events posted with this tag'),
  since: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(200).regex(/^[A-Za-z0-9_-]+$/).optional(),
});


export const deliveryRoutes: RouteDescription[] = [
  {
    method: 'get', path: '/v1/deliveries', summary: 'List deliveries from the attempt log, newest first, a page at a time', query: listQuery,
    responses: { 200: '{ data: [{ id, eventId, endpointId, eventType, tags, status, attempts, lastStatusCode, lastError, nextAttemptAt, startedAt, updatedAt }], nextCursor }' },
  },
  {
    method: 'get', path: '/v1/deliveries/:deliveryId',
    summary: 'A delivery and each of its attempts (the latest 100), with the request each sent (credentials masked, the body\'s first KiB); to a tenant key, an all-tenant endpoint\'s attempts show no error, response excerpt or headers, nor request',
    responses: { 200: '{ id, eventId, endpointId, eventType, status, attempts: [{ attempt, startedAt, durationMs, statusCode, error, responseExcerpt, responseHeaders, request: { method, url, headers, body } | null }], nextAttemptAt }', 404: 'no such delivery' },
  },
  {
    method: 'post', path: '/v1/deliveries/:deliveryId/replay', summary: 'Send a delivery again with a fresh attempt budget, whatever its state',
    responses: { 202: '{ id, status: "replaying" }', 403: 'a tenant key replaying into an all-tenant endpoint', 404: 'no such delivery', 409: 'its endpoint was deleted', 429: 'the tenant has replayed HERALD_MAX_REPLAYS_PER_MINUTE deliveries in the last minute; Retry-After says when to try again' },
  },
];


/** Takes up to `wanted` replays from the tenant's allowance; none left is a 429 naming the limit, with Retry-After. */
export function replaysAllowed(replays: ReplayLimiter, tenant: string, wanted: number): number {
  const reserved = replays.reserve(tenant, wanted);
  if ('refusal' in reserved) throw new Problem(429, 'Too Many Requests', reserved.refusal, undefined, { 'retry-after': String(reserved.retryAfterSeconds) });
  return reserved.granted;
}

export function deliveriesRouter(deps: { temporal: HeraldTemporal; log: DeliveryLog; endpoints: EndpointStore; replays: ReplayLimiter }): Router {
  const router = Router();


  /** The delivery id from the path, if it names a delivery of a tenant the request may act for. */
  const ownedDelivery = (res: Parameters<typeof resolveTenant>[0], id: string) => {
    const parsed = parseDeliveryId(id);
    if (!parsed || !mayActFor(res, parsed.tenant)) throw notFound(`delivery ${id}`);
    return { id, ...parsed };
  };

  /** The endpoint a delivery of `tenant` goes to (its own, or an all-tenant one); 409 when deleted. */
  const endpointOf = async (id: string, tenant: string, endpointId: string) => {
    const endpoint = await deps.endpoints.receiving(tenant, endpointId);
    if (!endpoint) throw new Problem(409, 'Conflict', `endpoint ${endpointId} of delivery ${id} was deleted`);
    return endpoint;
  };


  /** A tenant key reads no answer of an all-tenant endpoint's receiver: that endpoint is the operator's. */
  const readerOf = (res: Parameters<typeof isAdmin>[0]) => ({ tenantKey: !isAdmin(res) });

  router.get('/v1/deliveries', async (req, res) => {
    const query = parse(listQuery, req.query, 'query');
    const filter = { ...query, tenant: resolveTenant(res, query.tenant), since: query.since ? new Date(query.since) : undefined, endpointIds: endpointScope(res) ?? undefined };
    res.json(await deps.log.list(filter, { limit: query.limit, cursor: query.cursor }, readerOf(res)));
  });

  router.get('/v1/deliveries/:deliveryId', async (req, res) => {
    const { id, tenant } = ownedDelivery(res, req.params.deliveryId);
    const delivery = await deps.log.get(tenant, id, readerOf(res));
    if (!delivery) throw notFound(`delivery ${id}`);
    res.json(delivery);
  });

  router.post('/v1/deliveries/:deliveryId/replay', async (req, res) => {
    const { id, tenant, endpointId } = ownedDelivery(res, req.params.deliveryId);
    if (!(await deps.log.get(tenant, id))) throw notFound(`delivery ${id}`);
    const endpoint = await endpointOf(id, tenant, endpointId);
    // Like every other action on it, sending into an all-tenant endpoint again is the operator's.
    if (endpoint.allTenants && !isAdmin(res)) throw new Problem(403, 'Forbidden', `delivery ${id} goes to an all-tenant endpoint: replaying it needs the admin key`);
    replaysAllowed(deps.replays, tenant, 1);
    if ((await replayDelivery(deps, id, endpoint)) === 'not-found') {
      deps.replays.release(tenant, 1);
      throw notFound(`delivery ${id}`);
    }
    res.status(202).json({ id, status: 'replaying' });
  });


  return router;
}
