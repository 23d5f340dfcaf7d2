import { Router } from 'express';
import { z } from 'zod';
import { retryLimitRefusals, type RetryPolicy } from '../../delivery/retryPolicy.ts';
import { authHeaderProblems, checkEndpointDefinition, endpointDefinition, endpointSettings, onlyMakeSendsSourceApp, retrySettings, secretUnfitFor, transformDefinitionProblems } from '../../endpoints/definition.ts';
import { endpointHealth, resetTraffic } from '../../endpoints/trafficControl.ts';
import { identifier, tenantField } from '../../fields.ts';
import { endpointQuotaRefusal } from '../../quotas.ts';
import { generateSecret } from '../../signing/index.ts';
import { endpointStats, statsWindows, type StatsWindow } from '../../storage/endpointStats.ts';
import { sampleInput, type TransformDefinition } from '../../transform/index.ts';
import { filterProblem, sampleFilterInput } from '../../sandbox/filter.ts';
import { transformProblem } from '../../sandbox/transform.ts';
import { endpointScope, isAdmin, resolveTenant } from '../auth.ts';
import type { RouteDescription } from '../route.ts';
import { invalidFields, notFound, parse, Problem } from '../problem.ts';
import { assertAuthDestinationAllowed, assertDestinationAllowed, assertWritable, endpointParams, type EndpointsDeps, ownedEndpointOf, readOnly, tenantQuery } from './shared.ts';

/** Runs the transform on a sample event (a runaway or failing expression is a 400 naming its field). */
async function assertTransformRuns(endpoint: { id: string; tenant: string; sourceApp: string | null; eventTypes: string[]; transform: TransformDefinition | null | undefined }): Promise<void> {
  if (!endpoint.transform) return;
  const problem = await transformProblem(endpoint.transform, sampleInput(endpoint));
  if (problem) throw invalidFields([{ field: problem.field, message: problem.onSample ? `${problem.message}, on a sample event` : problem.message }]);
}

/** Runs the filter on a sample event: one that fails to compile, fails, runs away or gives neither true nor false is a 400 naming `filter`. */
async function assertFilterRuns(endpoint: Parameters<typeof sampleFilterInput>[0] & { filter: string | null | undefined }): Promise<void> {
  if (!endpoint.filter) return;
  const problem = await filterProblem(endpoint.filter, sampleFilterInput(endpoint));
  if (problem) throw invalidFields([problem]);
}

const createBody = endpointDefinition.superRefine(checkEndpointDefinition);

const patchBody = endpointSettings.partial().extend({
  allTenants: z.never({ error: 'not patchable: create an all-tenant endpoint anew' }).optional(),
  secret: z.never({ error: 'not patchable: POST /v1/endpoints/:id/rotate-secret replaces it' }).optional(),
});

const listQuery = z.strictObject({
  tenant: tenantField,
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: identifier.optional(),
});

const statsQuery = z.strictObject({
  tenant: tenantField,
  window: z.enum(Object.keys(statsWindows) as [StatsWindow, ...StatsWindow[]]).default('24h'),
  series: z.enum(['true', 'false']).default('false').describe('true: also the window in buckets (1h: 60 of 1 min, 24h: 48 of 30 min, 7d: 56 of 3 h), for a chart over time'),
});

export const endpointCrudRoutes: RouteDescription[] = [
  {
    method: 'post', path: '/v1/endpoints', summary: 'Register an endpoint', body: createBody,
    responses: {
      201: 'the endpoint with its id and its secret, shown in full only here', 403: 'a tenant key naming another tenant',
      409: 'the tenant has as many endpoints as HERALD_MAX_ENDPOINTS_PER_TENANT allows',
    },
  },
  { method: 'get', path: '/v1/endpoints', summary: 'List endpoints', query: listQuery, responses: { 200: '{ data: [endpoint], nextCursor }' } },
  {
    method: 'get', path: '/v1/endpoints/:id', summary: 'Read an endpoint, with its health', params: endpointParams, query: tenantQuery,
    responses: { 200: 'the endpoint and health: { state (healthy | degraded | open | disabled), consecutiveFailures, lastSuccessAt, lastFailureAt, circuitOpenUntil }', 404: 'no such endpoint' },
  },
  {
    method: 'get', path: '/v1/endpoints/:id/stats', summary: 'Attempts, deliveries, failures, success rate and latency of the endpoint over a window, from the attempt log; with series=true, also over time', params: endpointParams, query: statsQuery,
    responses: { 200: '{ window, since, attempts, delivered, failed, successRate, latencyMs: { p50, p95, p99 } }, with series=true also { bucketMs, series: [{ at, attempts, delivered, failed, latencyMs }] } (oldest first, empty buckets included)', 404: 'no such endpoint' },
  },
  {
    method: 'patch', path: '/v1/endpoints/:id', summary: 'Change any setting but the secret', params: endpointParams, query: tenantQuery, body: patchBody,
    responses: { 200: 'the endpoint as changed', 404: 'no such endpoint', 409: readOnly },
  },
  {
    method: 'delete', path: '/v1/endpoints/:id', summary: 'Remove an endpoint; deliveries under way then fail', params: endpointParams, query: tenantQuery,
    responses: { 204: 'removed', 404: 'no such endpoint', 409: readOnly },
  },
];

/** Create, list, read (with health), stats, change and delete. */
export function endpointCrudRouter(deps: EndpointsDeps): Router {
  const { endpoints: store, logger } = deps;
  const ownedEndpoint = ownedEndpointOf(store);
  const router = Router();

  /** Refuses a retry policy beyond the tenant quotas, naming the field and the limit. */
  const assertRetryPolicyWithinLimits = (declared: RetryPolicy | undefined) => {
    const refusals = declared === undefined ? [] : retryLimitRefusals(declared, deps.quotas);
    if (refusals.length) throw invalidFields(refusals);
  };

  router.post('/v1/endpoints', async (req, res) => {
    const body = parse(createBody, req.body);
    assertDestinationAllowed(body.url, deps.destinations);
    assertAuthDestinationAllowed(body.auth, deps.destinations);
    assertRetryPolicyWithinLimits(req.body.retryPolicy);
    if (body.allTenants && !isAdmin(res)) throw new Problem(403, 'Forbidden', 'an endpoint for every tenant needs the admin key', [{ field: 'allTenants', message: 'admin key only' }]);
    const tenant = resolveTenant(res, body.tenant);
    const overQuota = endpointQuotaRefusal(tenant, await store.count(tenant), deps.quotas.maxEndpointsPerTenant);
    if (overQuota) throw new Problem(409, 'Quota exceeded', overQuota, [{ field: 'tenant', message: overQuota }]);
    const sample = { id: 'ep_new', tenant, sourceApp: body.sourceApp ?? null, eventTypes: body.eventTypes, channels: body.channels };
    await assertTransformRuns({ ...sample, transform: body.transform });
    await assertFilterRuns({ ...sample, filter: body.filter });
    const secret = body.secret === null ? '' : body.secret ?? generateSecret();
    const endpoint = await store.create({
      ...body,
      ...retrySettings(req.body.retryPolicy, body.timeoutMs),
      tenant,
      secret,
    });
    // The only time the secret is shown in full.
    res.status(201).location(`/v1/endpoints/${endpoint.id}`).json({ ...endpoint, secret });
  });


  router.get('/v1/endpoints', async (req, res) => {
    const query = parse(listQuery, req.query, 'query');
    const tenant = resolveTenant(res, query.tenant);
    const scope = endpointScope(res);
    if (scope) {
      // A portal session narrowed to a few endpoints lists those, on one page.
      const own = await Promise.all(scope.map((id) => store.get(tenant, id)));
      res.json({ data: own.filter((endpoint) => endpoint !== undefined), nextCursor: null });
      return;
    }
    const page = await store.list(tenant, { limit: query.limit, after: query.after });
    res.json({ data: page, nextCursor: page.length === query.limit ? page.at(-1)!.id : null });
  });


  router.get('/v1/endpoints/:id', async (req, res) => {
    const endpoint = await ownedEndpoint(req, res);
    res.json({ ...endpoint, health: await endpointHealth(deps.db, endpoint) });
  });


  router.get('/v1/endpoints/:id/stats', async (req, res) => {
    const { window, series } = parse(statsQuery, req.query, 'query');
    const endpoint = await ownedEndpoint(req, res);
    res.json(await endpointStats(deps.db, endpoint.id, window, { series: series === 'true' }));
  });


  router.patch('/v1/endpoints/:id', async (req, res) => {
    const changes = parse(patchBody, req.body);
    if (changes.url !== undefined) assertDestinationAllowed(changes.url, deps.destinations);
    assertAuthDestinationAllowed(changes.auth, deps.destinations);
    assertRetryPolicyWithinLimits(req.body.retryPolicy);
    const endpoint = await ownedEndpoint(req, res);
    assertWritable(endpoint);
    const { tenant, id } = endpoint;
    if (changes.sourceApp !== undefined && (changes.format ?? endpoint.format) !== 'make' && !(changes.transform ?? endpoint.transform)) {
      throw new Problem(400, 'Invalid request', onlyMakeSendsSourceApp, [{ field: 'sourceApp', message: onlyMakeSendsSourceApp }]);
    }
    if (changes.signature) {
      const secret = await store.currentSecret(tenant, id);
      if (secret === undefined) throw notFound(`endpoint ${id}`);
      const unfit = secretUnfitFor(changes.signature.scheme, secret);
      if (unfit) throw new Problem(400, 'Invalid request', 'the endpoint\'s secret cannot sign with this scheme', [{ field: 'signature', message: `${unfit}: rotate to such a secret first` }]);
    }
    const transform = changes.transform === undefined ? endpoint.transform : changes.transform;
    if (transform && (changes.transform !== undefined || changes.signature)) {
      const problems = transformDefinitionProblems(transform, changes.signature ?? endpoint.signature);
      if (problems.length) throw invalidFields(problems.map(({ path, message }) => ({ field: path.join('.'), message })));
      await assertTransformRuns({ ...endpoint, ...changes, transform });
    }
    if (changes.filter) await assertFilterRuns({ ...endpoint, ...changes, filter: changes.filter });
    if (changes.auth !== undefined || changes.headers || changes.transform) {
      const problems = authHeaderProblems({ auth: changes.auth === undefined ? endpoint.auth : changes.auth, headers: changes.headers ?? endpoint.headers, transform });
      if (problems.length) throw invalidFields(problems.map(({ path, message }) => ({ field: path.join('.'), message })));
    }
    const { secret: _secret, ...settings } = changes;
    // Stored as declared, like on create.
    const updated = await store.update(tenant, id, { ...settings, retryPolicy: req.body.retryPolicy });
    if (!updated) throw notFound(`endpoint ${id}`);
    // Re-enabled by hand (after auto-disable, say): its circuit and failure streak start afresh.
    if (changes.enabled && !endpoint.enabled) await resetTraffic(deps.db, id);
    logger.info({ tenant, endpointId: id, fields: Object.keys(settings) }, 'endpoint updated');
    res.json(updated);
  });


  router.delete('/v1/endpoints/:id', async (req, res) => {
    const endpoint = await ownedEndpoint(req, res);
    assertWritable(endpoint);
    const { tenant, id } = endpoint;
    if (!(await store.delete(tenant, id))) throw notFound(`endpoint ${id}`);
    logger.info({ tenant, endpointId: id }, 'endpoint deleted');
    res.status(204).end();
  });


  return router;
}
