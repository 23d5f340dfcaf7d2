import { Router } from 'express';
import { z } from 'zod';
import type { ReplayLimiter } from '../quotas.ts';
import type { EndpointStore } from '../storage/endpoints.ts';
import { type Deliveries, parseDeliveryId } from '../temporal/deliveries.ts';
import { mayActFor, resolveTenant } from './auth.ts';
import { endpointParams } from './endpoints.ts';
import { eventType, identifier, tenantField } from './fields.ts';
import type { RouteDescription } from './openapi.ts';
import { notFound, parse } from './problem.ts';

const statusName = z.enum(['pending', 'retrying', 'delivered', 'failed', 'cancelled']);

const listQuery = z.strictObject({
  tenant: tenantField,
  status: statusName.optional(),
  endpointId: identifier.optional(),
  eventType: eventType.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const recoverBody = z.strictObject({
  since: z.iso.datetime({ offset: true }),
  tenant: tenantField,
});

export const deliveryRoutes: RouteDescription[] = [
  { method: 'get', path: '/v1/deliveries', summary: 'List deliveries from Temporal visibility, newest first', query: listQuery, responses: { 200: '{ data: [delivery] }' } },
  {
    method: 'get', path: '/v1/deliveries/:deliveryId', summary: 'A delivery and each of its attempts',
    responses: { 200: '{ id, eventId, endpointId, status, attempts: [{ attempt, startedAt, durationMs, statusCode, error, responseExcerpt }], nextAttemptAt }', 404: 'no such delivery' },
  },
  {
    method: 'post', path: '/v1/deliveries/:deliveryId/replay', summary: 'Send a delivery again, whatever its state',
    responses: { 202: '{ id, status: "replaying" }', 404: 'no such delivery', 429: 'the tenant has replayed HERALD_MAX_REPLAYS_PER_MINUTE deliveries in the last minute; Retry-After says when to try again' },
  },
  {
    method: 'post', path: '/v1/endpoints/:id/recover', summary: 'Replay every failed delivery of the endpoint since a time', params: endpointParams, body: recoverBody,
    responses: { 202: '{ endpointId, replayed: [deliveryId] } (at most the tenant\'s replay allowance: call again for the rest)', 404: 'no such endpoint', 429: 'the tenant\'s replay allowance (HERALD_MAX_REPLAYS_PER_MINUTE) is spent; Retry-After says when' },
  },
];

/** Replaying every failed delivery of a large outage is bounded per call; call again for the rest. */
const RECOVER_BATCH = 1000;

export function deliveriesRouter(deps: { deliveries: Deliveries; endpoints: EndpointStore; replays: ReplayLimiter }): Router {
  const router = Router();

  /** The delivery id from the path, if it names a delivery of a tenant the request may act for. */
  const ownedDeliveryId = (res: Parameters<typeof resolveTenant>[0], id: string) => {
    const parsed = parseDeliveryId(id);
    if (!parsed || !mayActFor(res, parsed.tenant)) throw notFound(`delivery ${id}`);
    return id;
  };

  router.get('/v1/deliveries', async (req, res) => {
    const query = parse(listQuery, req.query, 'query');
    const data = await deps.deliveries.list({ ...query, tenant: resolveTenant(res, query.tenant) }, query.limit);
    res.json({ data });
  });

  router.get('/v1/deliveries/:deliveryId', async (req, res) => {
    const status = await deps.deliveries.status(ownedDeliveryId(res, req.params.deliveryId));
    if (!status) throw notFound(`delivery ${req.params.deliveryId}`);
    res.json(status);
  });

  router.post('/v1/deliveries/:deliveryId/replay', async (req, res) => {
    const id = ownedDeliveryId(res, req.params.deliveryId);
    const tenant = parseDeliveryId(id)!.tenant;
    deps.replays.reserve(tenant);
    if ((await deps.deliveries.replay(id)) === 'not-found') {
      deps.replays.release(tenant, 1);
      throw notFound(`delivery ${id}`);
    }
    res.status(202).json({ id, status: 'replaying' });
  });

  router.post('/v1/endpoints/:id/recover', async (req, res) => {
    const body = parse(recoverBody, req.body);
    const tenant = resolveTenant(res, body.tenant);
    const endpoint = await deps.endpoints.get(tenant, parse(endpointParams, req.params, 'params').id);
    if (!endpoint) throw notFound(`endpoint ${req.params.id}`);
    const allowed = deps.replays.reserve(tenant, RECOVER_BATCH);
    const failed = await deps.deliveries.list(
      { tenant, endpointId: endpoint.id, status: 'failed', since: new Date(body.since) },
      allowed,
    );
    deps.replays.release(tenant, allowed - failed.length);
    for (const delivery of failed) await deps.deliveries.replay(delivery.id);
    res.status(202).json({ endpointId: endpoint.id, replayed: failed.map((d) => d.id) });
  });

  return router;
}
