import { Router, type Request } from 'express';
import { z } from 'zod';
import { duration } from '../duration.ts';
import type { EndpointStore } from '../endpoints/store.ts';
import { identifier, tenantField, tenantId } from '../fields.ts';
import type { Logger } from '../logger.ts';
import type { TenantStore } from '../storage/tenants.ts';
import { portalCapabilities, type PortalSession, type PortalSessionStore } from '../portal/sessions.ts';
import { eventWorkflowId } from '../temporal/heraldTemporal.ts';
import { bearerToken, isAdmin, principalOf, resolveTenant } from './auth.ts';
import { jsonBody } from './body.ts';
import type { RouteDescription } from './route.ts';
import { invalidFields, notFound, parse, Problem } from './problem.ts';

const HOUR_MS = 3_600_000;

const createSessionBody = z.strictObject({
  tenant: tenantField,
  /** Narrows the session to these endpoints of the tenant; every endpoint when omitted. */
  endpointIds: z.array(identifier).min(1).max(100).optional(),
  capabilities: z.array(z.enum(portalCapabilities)).min(1),
  expiresIn: duration.prefault('24h').refine((ms) => ms >= HOUR_MS && ms <= 7 * 24 * HOUR_MS, 'from 1h to 7d'),
  /** The caller's own label, to revoke the session by. */
  sessionId: identifier.optional(),
});

const exchangeBody = z.strictObject({ code: z.string().max(200) });
const switchBody = z.strictObject({ tenant: tenantId });
const sessionParams = z.object({ sessionId: identifier });
const tenantQuery = z.strictObject({ tenant: tenantField });
const origin = z.string().refine((text) => URL.canParse(text) && new URL(text).origin === text && /^https?:$/.test(new URL(text).protocol), 'an origin such as https://app.example.com (scheme, host, port; no path)');
const frameAncestorsBody = z.strictObject({ tenant: tenantField, origins: z.array(origin).max(20) });

const usedOrExpired = 'this link was already used or has expired: ask for a new one';
const notForSessions = 'a portal session';

export const portalRoutes: RouteDescription[] = [
  {
    method: 'post', path: '/v1/portal/sessions', summary: 'Open a portal session: a link whose fragment holds a single-use code (admin key, or a tenant key for its own tenant)', body: createSessionBody,
    responses: { 201: '{ url, sessionId, expiresAt, tenant, capabilities, endpointIds }', 400: 'an endpoint id the tenant does not have', 403: 'a tenant key naming another tenant, or a portal session', 409: 'a live session of the tenant has this sessionId' },
  },
  {
    method: 'post', path: '/v1/portal/exchange', summary: 'Spend a link\'s code, once, for the session token the portal calls /v1 with', public: true, body: exchangeBody,
    responses: { 200: '{ token, expiresAt, tenant, sessionId, capabilities, endpointIds, operator, workflowUrl (admin-issued sessions: the Temporal Web UI address of an event\'s workflow, with {tenant} and {eventId} to fill in) }', 401: 'the code was already used, has expired, or its session was revoked' },
  },
  {
    method: 'post', path: '/v1/portal/switch', summary: 'The operator console\'s tenant switch: from an operator\'s portal session (issued with the admin key, for a whole tenant), a session for another tenant with the same capabilities, ending with it', body: switchBody,
    responses: { 200: 'as the exchange answers', 403: 'not an operator\'s portal session', 404: 'no such tenant' },
  },
  {
    method: 'delete', path: '/v1/portal/sessions/:sessionId', summary: 'End a portal session at once', params: sessionParams, query: tenantQuery,
    responses: { 204: 'ended', 403: notForSessions, 404: 'no such live session' },
  },
  {
    method: 'delete', path: '/v1/portal/sessions', summary: 'End every portal session of the tenant at once', query: tenantQuery,
    responses: { 200: '{ tenant, revoked }', 403: notForSessions },
  },
  {
    method: 'get', path: '/v1/portal/frame-ancestors', summary: 'The origins allowed to embed the tenant\'s portal in a frame (none: the portal\'s own origin only)', query: tenantQuery,
    responses: { 200: '{ tenant, origins }', 403: notForSessions },
  },
  {
    method: 'put', path: '/v1/portal/frame-ancestors', summary: 'Set the origins allowed to embed the tenant\'s portal in a frame', body: frameAncestorsBody,
    responses: { 200: '{ tenant, origins }', 400: 'not an origin', 403: notForSessions },
  },
];

interface PortalDeps {
  portalSessions: PortalSessionStore; endpoints: EndpointStore; tenants: TenantStore; logger: Logger; publicUrl: string | undefined; maxBodyBytes: number;
  /** Where the operator's sessions link each event's workflow: the Temporal Web UI and the namespace. */
  temporalWebUi: { url: string; namespace: string };
}

/**
 * The Web UI address of an event's workflow, `{tenant}` and `{eventId}` left for the page to fill in
 * (URI-encoded): the workflow id's form stays the facade's.
 */
const workflowUrlTemplate = ({ url, namespace }: PortalDeps['temporalWebUi']) =>
  `${url.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(eventWorkflowId('\u0000T', '\u0000E'))}`
    .replace('%00T', '{tenant}').replace('%00E', '{eventId}');

/** Where links point: the configured public URL, else the address this request reached. */
const baseUrlOf = (req: Request, publicUrl: string | undefined) => (publicUrl ?? `${req.protocol}://${req.get('host')}`).replace(/\/$/, '');

/** The code exchange: served without a key, before authentication (the code is the credential). */
export function portalExchangeRouter(deps: PortalDeps): Router {
  const router = Router();
  router.post('/v1/portal/exchange', ...jsonBody(deps.maxBodyBytes), async (req, res) => {
    const { code } = parse(exchangeBody, req.body);
    const exchanged = await deps.portalSessions.exchange(code);
    if (!exchanged) {
      deps.logger.warn({ ip: req.ip }, 'portal code refused');
      throw new Problem(401, 'Unauthorized', usedOrExpired, [{ field: 'code', message: 'already used, expired or revoked' }]);
    }
    deps.logger.info({ tenant: exchanged.session.tenant, sessionId: exchanged.session.id }, 'portal session opened');
    res.set('cache-control', 'no-store').json(sessionAnswer(exchanged, deps));
  });
  return router;
}

/** What the page keeps of a session: its token, scope and, for the operator, the Temporal Web UI link. */
const sessionAnswer = ({ session: { id: sessionId, ...session }, token }: { session: PortalSession; token: string }, deps: PortalDeps) =>
  ({ token, sessionId, ...session, workflowUrl: session.operator ? workflowUrlTemplate(deps.temporalWebUi) : null });

/** Issuing and ending sessions, and the tenant's frame-ancestors allow-list: API keys only, never a session. */
export function portalRouter(deps: PortalDeps): Router {
  const { portalSessions: sessions, logger } = deps;
  const router = Router();
  // Before the guard below: the one /v1/portal route a session calls (portalGate lets only an operator's through).
  router.post('/v1/portal/switch', async (req, res) => {
    const { tenant } = parse(switchBody, req.body);
    if (!(await deps.tenants.get(tenant))) throw notFound(`tenant ${tenant}`);
    const switched = principalOf(res).role === 'portal' && (await sessions.switchTenant(bearerToken(req) ?? '', tenant));
    if (!switched) throw new Problem(403, 'Forbidden', 'only an operator\'s portal session switches tenants');
    logger.info({ tenant, sessionId: switched.session.id }, 'operator switched the portal to another tenant');
    res.set('cache-control', 'no-store').json(sessionAnswer(switched, deps));
  });
  router.use('/v1/portal', (_req, res, next) => {
    if (principalOf(res).role === 'portal') throw new Problem(403, 'Forbidden', 'portal sessions and settings are managed with an API key, not from a portal session');
    next();
  });

  router.post('/v1/portal/sessions', async (req, res) => {
    const body = parse(createSessionBody, req.body);
    const tenant = resolveTenant(res, body.tenant);
    const unknown = [];
    for (const [index, id] of (body.endpointIds ?? []).entries()) {
      const endpoint = await deps.endpoints.get(tenant, id);
      if (!endpoint || endpoint.allTenants) unknown.push({ field: `endpointIds.${index}`, message: `tenant ${tenant} has no endpoint ${id}` });
    }
    if (unknown.length) throw invalidFields(unknown);
    // `view` is every session's floor: the portal cannot act on what it cannot show.
    const capabilities = [...new Set(['view' as const, ...body.capabilities])];
    const created = await sessions.create({ tenant, id: body.sessionId, capabilities, endpointIds: body.endpointIds ?? null, operator: isAdmin(res), expiresInMs: body.expiresIn });
    if (!created) throw new Problem(409, 'Conflict', `tenant ${tenant} has a live portal session "${body.sessionId}"`, [{ field: 'sessionId', message: 'a live session has this id' }]);
    const { session, code } = created;
    logger.info({ tenant, sessionId: session.id, capabilities, endpointIds: session.endpointIds, expiresAt: session.expiresAt }, 'portal link issued');
    // The code rides in the fragment: browsers send it to no server and in no Referer. The tenant picks the frame-ancestors.
    const url = `${baseUrlOf(req, deps.publicUrl)}/portal/?tenant=${encodeURIComponent(tenant)}#code=${code}`;
    res.status(201).set('cache-control', 'no-store').json({ url, sessionId: session.id, expiresAt: session.expiresAt, tenant, capabilities, endpointIds: session.endpointIds });
  });

  router.delete('/v1/portal/sessions/:sessionId', async (req, res) => {
    const { sessionId } = parse(sessionParams, req.params, 'params');
    const tenant = resolveTenant(res, parse(tenantQuery, req.query, 'query').tenant);
    if (!(await sessions.revoke(tenant, sessionId))) throw notFound(`live portal session ${sessionId} of tenant ${tenant}`);
    logger.info({ tenant, sessionId }, 'portal session revoked');
    res.status(204).end();
  });

  router.delete('/v1/portal/sessions', async (req, res) => {
    const tenant = resolveTenant(res, parse(tenantQuery, req.query, 'query').tenant);
    const revoked = await sessions.revokeAll(tenant);
    logger.info({ tenant, revoked }, 'every portal session of the tenant revoked');
    res.json({ tenant, revoked });
  });

  router.get('/v1/portal/frame-ancestors', async (req, res) => {
    const tenant = resolveTenant(res, parse(tenantQuery, req.query, 'query').tenant);
    res.json({ tenant, origins: await sessions.frameAncestors(tenant) });
  });

  router.put('/v1/portal/frame-ancestors', async (req, res) => {
    const body = parse(frameAncestorsBody, req.body);
    const tenant = resolveTenant(res, body.tenant);
    await sessions.setFrameAncestors(tenant, body.origins);
    logger.info({ tenant, origins: body.origins }, 'portal frame-ancestors set');
    res.json({ tenant, origins: body.origins });
  });

  return router;
}
