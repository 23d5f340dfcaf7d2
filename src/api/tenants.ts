import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../logger.ts';
import type { TenantDeletions } from '../storage/tenantDeletions.ts';
import type { TenantStore } from '../storage/tenants.ts';
import type { HeraldTemporal } from '../temporal/heraldTemporal.ts';
import { principalOf, requireAdmin } from './auth.ts';
import { duration } from '../duration.ts';
import { identifier, tenantId } from '../fields.ts';
import type { RouteDescription } from './route.ts';
import { notFound, parse, Problem } from './problem.ts';

/** Kept as declared; null: Herald's default (HERALD_PAYLOAD_RETENTION). */
const payloadRetention = z.string().refine((text) => duration.safeParse(text).success && duration.parse(text) > 0, 'a duration such as "12h" or "30d"')
  .nullable().describe("how long the tenant's event data is kept (docs/data.md); null: HERALD_PAYLOAD_RETENTION");

const createTenantBody = z.strictObject({
  id: tenantId,
  name: z.string().max(200).default(''),
  payloadRetention: payloadRetention.default(null),
});

const updateTenantBody = z.strictObject({
  name: z.string().max(200).optional(),
  payloadRetention: payloadRetention.optional(),
});

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: identifier.optional(),
});

const issueKeyBody = z.strictObject({
  /** What the key is for, e.g. "order form production"; shown in listings. */
  name: z.string().max(200).default(''),
});

const tenantParams = z.object({ tenantId: identifier });
const keyParams = tenantParams.extend({ keyId: z.string() });

const adminOnly = 'not the admin key';
/** Requests that name no tenant act for it (src/api/auth.ts). */
const DEFAULT_TENANT = 'default';
const noTenant = 'no such tenant';
export const tenantRoutes: RouteDescription[] = [
  {
    method: 'post', path: '/v1/tenants', summary: 'Create a tenant', body: createTenantBody,
    responses: { 201: 'the tenant', 403: adminOnly, 409: 'the tenant exists, or was deleted (a deleted tenant\'s id is not reused)' },
  },
  { method: 'get', path: '/v1/tenants', summary: 'List tenants', query: listQuery, responses: { 200: '{ data: [tenant], nextCursor }', 403: 'not the admin key (an operator\'s portal session may list)' } },
  { method: 'get', path: '/v1/tenants/:tenantId', summary: 'Read a tenant', params: tenantParams, responses: { 200: 'the tenant', 403: adminOnly, 404: noTenant } },
  {
    method: 'patch', path: '/v1/tenants/:tenantId', summary: "Change a tenant's name or payload retention", params: tenantParams, body: updateTenantBody,
    responses: { 200: 'the tenant', 403: adminOnly, 404: noTenant },
  },
  {
    method: 'delete', path: '/v1/tenants/:tenantId',
    summary: "Delete a tenant and everything Herald keeps for it but its audit log: endpoints (secrets, auth), API keys, portal sessions, event types, the attempt log and every workflow execution it owns (docs/data.md). Runs as a Temporal workflow that survives a crash; from the start, ingest for the tenant is refused. Idempotent",
    params: tenantParams,
    responses: {
      202: '{ tenant, status: "running" | "done", startedAt, finishedAt?, removed: { endpoints, keys, portalSessions, deliveries, workflowExecutions } }, Location: its progress',
      403: adminOnly, 404: noTenant, 409: 'the default tenant, which requests naming no tenant act for, cannot be deleted',
    },
  },
  {
    method: 'get', path: '/v1/tenants/:tenantId/deletion', summary: "A tenant's deletion: running or done, and what it removed so far", params: tenantParams,
    responses: { 200: '{ tenant, status: "running" | "done", startedAt, finishedAt?, removed: { endpoints, keys, portalSessions, deliveries, workflowExecutions } }', 403: adminOnly, 404: 'the tenant was never asked to be deleted' },
  },
  {
    method: 'get', path: '/v1/tenants/:tenantId/keys', summary: "List a tenant's API keys (never the keys themselves)", params: tenantParams,
    responses: { 200: '{ data: [key] }', 403: adminOnly, 404: noTenant },
  },
  {
    method: 'post', path: '/v1/tenants/:tenantId/keys', summary: 'Issue an API key for a tenant', params: tenantParams, body: issueKeyBody, bodyOptional: true,
    responses: { 201: 'the key, shown in full only here', 403: adminOnly, 404: noTenant },
  },
  {
    method: 'delete', path: '/v1/tenants/:tenantId/keys/:keyId', summary: 'Revoke an API key', params: keyParams,
    responses: { 204: 'revoked', 403: adminOnly, 404: 'no such key' },
  },
];

/** Tenants and their API keys; the admin key only. */
export function tenantsRouter(deps: {
  tenants: TenantStore; deletions: TenantDeletions; temporal: Pick<HeraldTemporal, 'startTenantDeletion'>; logger: Logger;
}): Router {
  const { tenants, deletions, logger } = deps;
  const router = Router();
  const listTenants = async (req: Request, res: Response) => {
    const query = parse(listQuery, req.query, 'query');
    const page = await tenants.list(query);
    res.json({ data: page, nextCursor: page.length === query.limit ? page.at(-1)!.id : null });
  };
  // The operator console (a portal session issued with the admin key, for a whole tenant) lists the tenants to switch between; nothing more.
  router.get('/v1/tenants', async (req, res, next) => {
    const principal = principalOf(res);
    if (principal.role === 'portal' && principal.operator && principal.endpointIds === null) return listTenants(req, res);
    next();
  });
  router.use('/v1/tenants', requireAdmin('managing tenants and keys'));

  const existingTenant = async (params: unknown) => {
    const { tenantId } = parse(tenantParams, params, 'params');
    const tenant = await tenants.get(tenantId);
    if (!tenant) throw notFound(`tenant ${tenantId}`);
    return tenant;
  };

  router.post('/v1/tenants', async (req, res) => {
    const body = parse(createTenantBody, req.body);
    if (await deletions.get(body.id)) throw new Problem(409, 'Conflict', `tenant ${body.id} was deleted; its id is not reused`, [{ field: 'id', message: 'belonged to a deleted tenant' }]);
    const tenant = await tenants.create(body.id, body.name, body.payloadRetention);
    if (!tenant) throw new Problem(409, 'Conflict', `tenant ${body.id} already exists`, [{ field: 'id', message: 'already exists' }]);
    logger.info({ tenant: tenant.id }, 'tenant created');
    res.status(201).location(`/v1/tenants/${tenant.id}`).json(tenant);
  });

  router.get('/v1/tenants', listTenants);

  router.get('/v1/tenants/:tenantId', async (req, res) => {
    res.json(await existingTenant(req.params));
  });

  router.patch('/v1/tenants/:tenantId', async (req, res) => {
    const { tenantId } = parse(tenantParams, req.params, 'params');
    const tenant = await tenants.update(tenantId, parse(updateTenantBody, req.body));
    if (!tenant) throw notFound(`tenant ${tenantId}`);
    logger.info({ tenant: tenant.id, payloadRetention: tenant.payloadRetention }, 'tenant changed');
    res.json(tenant);
  });

  router.delete('/v1/tenants/:tenantId', async (req, res) => {
    const { tenantId } = parse(tenantParams, req.params, 'params');
    if (tenantId === DEFAULT_TENANT) {
      throw new Problem(409, 'Conflict', 'the default tenant cannot be deleted: requests and static routes that name no tenant act for it', [
        { field: 'tenantId', message: 'must not be "default"' },
      ]);
    }
    if (!(await deletions.get(tenantId)) && !(await tenants.get(tenantId))) throw notFound(`tenant ${tenantId}`);
    // The row first: from now on ingest for the tenant is refused. Asked again, the workflow starts again if it stopped.
    const deletion = await deletions.begin(tenantId);
    await deps.temporal.startTenantDeletion(tenantId);
    logger.info({ tenant: tenantId }, 'tenant deletion started');
    res.status(202).location(`/v1/tenants/${tenantId}/deletion`).json(deletion);
  });

  router.get('/v1/tenants/:tenantId/deletion', async (req, res) => {
    const { tenantId } = parse(tenantParams, req.params, 'params');
    const deletion = await deletions.get(tenantId);
    if (!deletion) throw notFound(`deletion of tenant ${tenantId}`);
    res.json(deletion);
  });

  router.get('/v1/tenants/:tenantId/keys', async (req, res) => {
    const tenant = await existingTenant(req.params);
    res.json({ data: await tenants.listKeys(tenant.id) });
  });

  router.post('/v1/tenants/:tenantId/keys', async (req, res) => {
    const tenant = await existingTenant(req.params);
    const { name } = parse(issueKeyBody, req.body ?? {});
    const issued = await tenants.issueKey(tenant.id, name);
    logger.info({ tenant: tenant.id, keyId: issued.id }, 'API key issued');
    // The only time the key is shown: Herald keeps its SHA-256 digest alone.
    res.status(201).location(`/v1/tenants/${tenant.id}/keys/${issued.id}`).json(issued);
  });

  router.delete('/v1/tenants/:tenantId/keys/:keyId', async (req, res) => {
    const { tenantId, keyId } = parse(keyParams, req.params, 'params');
    if (!(await tenants.revokeKey(tenantId, keyId))) throw notFound(`key ${keyId} of tenant ${tenantId}`);
    logger.info({ tenant: tenantId, keyId }, 'API key revoked');
    res.status(204).end();
  });

  return router;
}
