import type { RequestHandler } from 'express';
import type { PortalCapability } from '../portal/sessions.ts';
import { parseDeliveryId } from '../temporal/heraldTemporal.ts';
import { principalOf } from './auth.ts';
import { notFound, Problem } from './problem.ts';

/** Routes a portal session may call, and the capability each needs; every other route is refused (403). */
const sessionRoutes: { method: string; path: RegExp; needs: PortalCapability | ((body: unknown) => PortalCapability[]); operatorOnly?: true }[] = [
  { method: 'GET', path: /^\/v1\/endpoints$/, needs: 'view' },
  { method: 'POST', path: /^\/v1\/endpoints$/, needs: 'manageEndpoints' },
  { method: 'POST', path: /^\/v1\/endpoints\/preview$/, needs: 'view' },
  { method: 'POST', path: /^\/v1\/endpoints\/test-send$/, needs: 'testSend' },
  { method: 'GET', path: /^\/v1\/endpoints\/[^/]+(\/stats)?$/, needs: 'view' },
  { method: 'GET', path: /^\/v1\/endpoints\/[^/]+\/secret$/, needs: 'viewSecrets' },
  { method: 'PATCH', path: /^\/v1\/endpoints\/[^/]+$/, needs: patchNeeds },
  { method: 'DELETE', path: /^\/v1\/endpoints\/[^/]+$/, needs: 'manageEndpoints' },
  { method: 'POST', path: /^\/v1\/endpoints\/[^/]+\/rotate-secret$/, needs: 'rotateSecrets' },
  { method: 'POST', path: /^\/v1\/endpoints\/[^/]+\/preview$/, needs: 'view' },
  { method: 'POST', path: /^\/v1\/endpoints\/[^/]+\/test$/, needs: 'testSend' },
  { method: 'POST', path: /^\/v1\/endpoints\/[^/]+\/recover$/, needs: 'replay' },
  { method: 'GET', path: /^\/v1\/deliveries(\/[^/]+)?$/, needs: 'view' },
  { method: 'POST', path: /^\/v1\/deliveries\/[^/]+\/replay$/, needs: 'replay' },
  { method: 'GET', path: /^\/v1\/event-types(\/[^/]+)?$/, needs: 'view' },
  { method: 'GET', path: /^\/v1\/events\/[^/]+$/, needs: 'view' },
  // Stops the event's deliveries as a replay restarts one; a narrowed session's reach is checked by the route.
  { method: 'POST', path: /^\/v1\/events\/[^/]+\/cancel$/, needs: 'replay' },
  // The operator console's tenant switcher.
  { method: 'GET', path: /^\/v1\/tenants$/, needs: 'view', operatorOnly: true },
  { method: 'POST', path: /^\/v1\/portal\/switch$/, needs: 'view', operatorOnly: true },
];

/** A change of the transform alone needs `manageTransforms`; of anything else, `manageEndpoints`. */
function patchNeeds(body: unknown): PortalCapability[] {
  const fields = body && typeof body === 'object' ? Object.keys(body) : [];
  return [
    ...(fields.includes('transform') ? ['manageTransforms' as const] : []),
    ...(fields.some((field) => field !== 'transform') || !fields.length ? ['manageEndpoints' as const] : []),
  ];
}

/** The endpoint a by-id route names: `/v1/endpoints/:id…` (not the unsaved-definition routes) or a delivery's. */
function endpointNamed(method: string, path: string): string | undefined {
  const byId = /^\/v1\/endpoints\/([^/]+)/.exec(path)?.[1];
  if (byId) return method === 'POST' && ['preview', 'test-send'].includes(byId) && !path.slice('/v1/endpoints/'.length).includes('/') ? undefined : decodeURIComponent(byId);
  const delivery = /^\/v1\/deliveries\/([^/]+)/.exec(path)?.[1];
  return delivery ? (parseDeliveryId(decodeURIComponent(delivery))?.endpointId ?? '') : undefined;
}

/**
 * Narrows a portal session to what its capabilities allow (403 otherwise) and, for a session given
 * endpoints, to those (another endpoint, or a delivery to it, is a 404 as for another tenant's).
 * Tenant scoping itself is the routes' own, as for a tenant key. Other principals pass untouched.
 */
export const portalGate: RequestHandler = (req, res, next) => {
  const principal = principalOf(res);
  if (principal.role !== 'portal') return next();
  const route = sessionRoutes.find((r) => r.method === req.method && r.path.test(req.path));
  if (!route) throw new Problem(403, 'Forbidden', `a portal session cannot call ${req.method} ${req.path}`);
  if (route.operatorOnly && !(principal.operator && principal.endpointIds === null)) {
    throw new Problem(403, 'Forbidden', 'only an operator\'s portal session (issued with the admin key, for a whole tenant) sees other tenants');
  }
  const needed = typeof route.needs === 'string' ? [route.needs] : route.needs(req.body);
  const missing = needed.filter((capability) => !principal.capabilities.includes(capability));
  if (missing.length) throw new Problem(403, 'Forbidden', `this portal session lacks the capability ${missing.map((c) => `"${c}"`).join(' and ')}`);
  if (principal.endpointIds) {
    if (req.method === 'POST' && req.path === '/v1/endpoints') throw new Problem(403, 'Forbidden', 'this portal session is narrowed to given endpoints: it cannot create others');
    const endpoint = endpointNamed(req.method, req.path);
    if (endpoint !== undefined && !principal.endpointIds.includes(endpoint)) throw notFound(req.path.startsWith('/v1/deliveries') ? `delivery ${req.path.split('/')[3]}` : `endpoint ${endpoint}`);
  }
  next();
};
