import { Router } from 'express';
import { z } from 'zod';
import { deadLettersSince, replayDelivery } from '../../endpoints/recover.ts';
import { tenantField } from '../../fields.ts';
import type { ReplayLimiter } from '../../quotas.ts';
import { isAdmin, resolveTenant } from '../auth.ts';
import { replaysAllowed } from '../deliveries.ts';
import type { RouteDescription } from '../route.ts';
import { notFound, parse } from '../problem.ts';
import { endpointParams, type EndpointsDeps } from './shared.ts';

const recoverBody = z.strictObject({
  since: z.iso.datetime({ offset: true }),
  /** On an all-tenant endpoint (admin key): only this tenant's deliveries; every tenant's when omitted. */
  tenant: tenantField,
});

/** Replaying every failed delivery of a large outage is bounded per call; call again for the rest. */
const RECOVER_BATCH = 1000;

export const endpointRecoveryRoutes: RouteDescription[] = [
  {
    method: 'post', path: '/v1/endpoints/:id/recover', summary: 'Replay every failed delivery of the endpoint since a time (of every tenant, or the one named, on an all-tenant endpoint)', params: endpointParams, body: recoverBody,
    responses: { 202: '{ endpointId, replayed: [deliveryId] } (at most the tenant\'s replay allowance: call again for the rest)', 404: 'no such endpoint', 429: 'the tenant\'s replay allowance (HERALD_MAX_REPLAYS_PER_MINUTE) is spent; Retry-After says when' },
  },
];

/** Recover: the endpoint's dead letters since a time, replayed within the tenant's replay allowance. */
export function endpointRecoveryRouter(deps: EndpointsDeps & { replays: ReplayLimiter }): Router {
  const router = Router();

  router.post('/v1/endpoints/:id/recover', async (req, res) => {
    const body = parse(recoverBody, req.body);
    const tenant = resolveTenant(res, body.tenant);
    const endpoint = await deps.endpoints.receiving(tenant, parse(endpointParams, req.params, 'params').id);
    // An all-tenant endpoint is the admin's alone, like every route by id.
    if (!endpoint || (endpoint.allTenants && !isAdmin(res))) throw notFound(`endpoint ${req.params.id}`);
    // Its dead letters are of every tenant (or the one named); the allowance spent is its owner's.
    const [owner, of] = endpoint.allTenants ? [endpoint.tenant, body.tenant ?? null] : [tenant, tenant];
    const allowed = replaysAllowed(deps.replays, owner, RECOVER_BATCH);
    const replayed = await deadLettersSince(deps, endpoint, { tenant: of, since: new Date(body.since), limit: allowed });
    deps.replays.release(owner, allowed - replayed.length);
    for (const id of replayed) await replayDelivery(deps, id, endpoint);
    res.status(202).json({ endpointId: endpoint.id, replayed });
  });

  return router;
}
