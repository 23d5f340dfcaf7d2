import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { Logger } from '../logger.ts';
import type { AuditLog } from '../storage/auditLog.ts';
import { parseDeliveryId } from '../temporal/heraldTemporal.ts';
import { tenantField } from '../fields.ts';
import { principalOf, resolveTenant, isAdmin, type Principal } from './auth.ts';
import type { RouteDescription } from './route.ts';
import { parse } from './problem.ts';

const auditQuery = z.strictObject({
  tenant: tenantField,
  since: z.iso.datetime({ offset: true }).optional(),
  target: z.string().max(300).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  after: z.string().regex(/^\d{1,18}$/, 'a record id from a previous page').optional(),
});

export const auditRoutes: RouteDescription[] = [
  {
    method: 'get', path: '/v1/audit', summary: "Management actions, oldest first from `since`: a tenant key reads its tenant's, the admin every tenant's (or `tenant`'s)", query: auditQuery,
    responses: { 200: '{ data: [{ id, at, tenant, actor, action, target, changes, status }], nextCursor }: pass nextCursor as `after`' },
  },
];

/** Writes that are not management actions: ingest, and what only computes an answer (previews, test sends to a bare URL). */
const notManagement = (method: string, path: string) =>
  (method === 'POST' && path === '/v1/events') || /^\/v1\/endpoints\/(test-send|preview|[^/]+\/preview)$/.test(path) || !path.startsWith('/v1/');

/** Fields whose values are secrets; `headers` values may be credentials (a static Authorization). */
const SECRET_FIELD = /secret|password|authorization|code|token$|key$/i; // key$: apiKey, privateKey (mTLS); token$: not tokenUrl

/** The request's fields with every secret masked, at any depth. */
export function maskSecrets(value: unknown, field = ''): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (SECRET_FIELD.test(field)) return '***';
  if (Array.isArray(value)) return value.map((item) => maskSecrets(item));
  if (typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) =>
    [key, field === 'headers' ? '***' : maskSecrets(inner, key)]));
}

const actorOf = (principal: Principal) =>
  principal.role === 'admin' ? 'admin' : principal.role === 'tenant' ? `key:${principal.keyId}` : `portal:${principal.sessionId}`;

/** The tenant an admin's action touched: the answer's, the request's, or the one its path names. */
function tenantActedOn(answer: unknown, body: unknown, query: Record<string, unknown>, path: string): string | null {
  const named = (value: unknown) => (value && typeof value === 'object' && typeof (value as { tenant?: unknown }).tenant === 'string' ? (value as { tenant: string }).tenant : undefined);
  const inPath = /^\/v1\/tenants\/([^/]+)/.exec(path)?.[1] ?? parseDeliveryId(decodeURIComponent(/^\/v1\/deliveries\/([^/]+)/.exec(path)?.[1] ?? ''))?.tenant;
  return named(answer) ?? named(body) ?? (typeof query.tenant === 'string' ? query.tenant : undefined) ?? inPath ?? null;
}

/**
 * Records every management action that succeeded, in one place for every route: the actor, the tenant, the
 * route, its target and the fields sent (secrets masked). Placed after authentication and body parsing.
 */
export function recordManagementActions(audit: AuditLog, logger: Logger): RequestHandler {
  return (req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS' || notManagement(req.method, req.path)) return next();
    let answer: unknown;
    const json = res.json.bind(res);
    res.json = (body) => ((answer = body), json(body));
    res.on('finish', () => {
      if (res.statusCode >= 400) return;
      const principal = principalOf(res);
      const route = (req.baseUrl ?? '') + (typeof req.route?.path === 'string' ? req.route.path : req.path);
      const target = res.get('location') ?? req.path;
      audit.record({
        tenant: principal.role === 'admin' ? tenantActedOn(answer, req.body, req.query, target) : principal.tenant,
        actor: actorOf(principal),
        action: `${req.method} ${route}`,
        target,
        changes: maskSecrets(req.body ?? null),
        status: res.statusCode,
      }).catch((err) => logger.error({ err, method: req.method, path: req.path }, 'audit record not written'));
    });
    next();
  };
}

export function auditRouter(audit: AuditLog): Router {
  const router = Router();
  router.get('/v1/audit', async (req, res) => {
    const query = parse(auditQuery, req.query, 'query');
    // The admin reads every tenant's unless it names one; anyone else reads only their own.
    const tenant = isAdmin(res) && query.tenant === undefined ? null : resolveTenant(res, query.tenant);
    const data = await audit.list({ tenant, since: query.since ? new Date(query.since) : undefined, target: query.target }, { limit: query.limit, after: query.after });
    res.json({ data, nextCursor: data.length === query.limit ? data.at(-1)!.id : null });
  });
  return router;
}
