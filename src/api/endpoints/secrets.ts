import { Router } from 'express';
import { z } from 'zod';
import { secretField, secretUnfitFor } from '../../endpoints/definition.ts';
import { duration } from '../../duration.ts';
import { generateSecret } from '../../signing/index.ts';
import type { RouteDescription } from '../route.ts';
import { notFound, parse, Problem } from '../problem.ts';
import { assertWritable, endpointParams, type EndpointsDeps, ownedEndpointOf, readOnly, tenantQuery } from './shared.ts';

const DEFAULT_ROTATION_GRACE = '24h';
const MAX_ROTATION_GRACE_MS = 30 * 86_400_000;

const rotateBody = z.strictObject({
  /** How long the replaced secret keeps signing alongside the new one. */
  gracePeriod: duration.prefault(DEFAULT_ROTATION_GRACE).refine((ms) => ms <= MAX_ROTATION_GRACE_MS, 'at most 30d'),
  /** The new secret; generated when omitted. */
  secret: secretField.optional(),
});

export const endpointSecretRoutes: RouteDescription[] = [
  {
    method: 'get', path: '/v1/endpoints/:id/secret', summary: 'Reveal the signing secret, and until when the replaced one still signs', params: endpointParams, query: tenantQuery,
    responses: { 200: '{ secret, previousSecretExpiresAt }', 404: 'no such endpoint' },
  },
  {
    method: 'post', path: '/v1/endpoints/:id/rotate-secret', summary: 'Replace the secret; the old one keeps signing for the grace period', params: endpointParams, query: tenantQuery, body: rotateBody, bodyOptional: true,
    responses: { 200: 'the endpoint with the new secret, shown in full only here, and previousSecretExpiresAt', 404: 'no such endpoint', 409: readOnly },
  },
];

/** Secret rotation, the old secret signing alongside the new for the grace period. */
export function endpointSecretsRouter(deps: EndpointsDeps): Router {
  const { endpoints: store, logger } = deps;
  const ownedEndpoint = ownedEndpointOf(store);
  const router = Router();

  router.get('/v1/endpoints/:id/secret', async (req, res) => {
    const endpoint = await ownedEndpoint(req, res);
    const state = await store.secretState(endpoint.tenant, endpoint.id);
    if (!state) throw notFound(`endpoint ${endpoint.id}`);
    logger.info({ tenant: endpoint.tenant, endpointId: endpoint.id }, 'endpoint secret revealed');
    res.set('cache-control', 'no-store').json(state);
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


  return router;
}
