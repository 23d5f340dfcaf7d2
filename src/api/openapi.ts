/**
 * The OpenAPI 3.1 document of the HTTP API, built from the route descriptions each router
 * module exports next to its handlers, and from the very zod schemas those handlers parse
 * with: the document cannot describe a body the API would validate differently.
 */
import { Router } from 'express';
import { z } from 'zod';
import { version } from '../version.ts';
import { auditRoutes } from './audit.ts';
import { codecRoutes } from './codec.ts';
import { deliveryRoutes } from './deliveries.ts';
import { endpointRoutes } from './endpoints/index.ts';
import { eventRoutes } from './events.ts';
import { eventTypeRoutes } from './eventTypes.ts';
import { healthRoutes } from './health.ts';
import { problemBody } from './problem.ts';
import type { RouteDescription } from './route.ts';
import { tenantRoutes } from './tenants.ts';
import { portalRoutes } from './portal.ts';

/** One route as the document shows it; `path` is written the Express way (`/v1/endpoints/:id`). */

/** Routes that app.ts registers itself rather than through a router module. */
const appRoutes: RouteDescription[] = [
  {
    method: 'get', path: '/metrics', summary: 'Prometheus metrics in text format; admin key only (they cover every tenant)',
    responses: { 200: 'Prometheus text exposition', 403: 'a tenant key' },
  },
  { method: 'get', path: '/v1/openapi.json', summary: 'This OpenAPI document', public: true, responses: { 200: 'OpenAPI 3.1 document' } },
];

export const apiRoutes: RouteDescription[] = [
  ...appRoutes,
  ...healthRoutes,
  ...eventRoutes,
  ...endpointRoutes,
  ...deliveryRoutes,
  ...tenantRoutes,
  ...portalRoutes,
  ...eventTypeRoutes,
  ...auditRoutes,
  ...codecRoutes,
];

type JsonSchema = Record<string, unknown>;

/** A zod schema as an OpenAPI 3.1 Schema Object (JSON Schema 2020-12), describing what a client sends. */
function jsonSchema(schema: z.ZodType): JsonSchema {
  // The dialect is the document's own, so the per-schema `$schema` is noise.
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as JsonSchema;
  return rest;
}

/** `/v1/endpoints/:id` → `/v1/endpoints/{id}`. */
export const openApiPath = (expressPath: string) => expressPath.replace(/:(\w+)/g, '{$1}');

function parameters(route: RouteDescription) {
  const fromObject = (where: 'path' | 'query' | 'header', schema: z.ZodObject | undefined) => {
    if (!schema) return [];
    const { properties = {}, required = [] } = jsonSchema(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
    return Object.entries(properties).map(([name, property]) => ({ name, in: where, required: where === 'path' || required.includes(name), schema: property }));
  };
  const pathNames = [...route.path.matchAll(/:(\w+)/g)].map((match) => match[1]!);
  const described = fromObject('path', route.params).filter((p) => pathNames.includes(p.name));
  const plain = pathNames
    .filter((name) => !described.some((p) => p.name === name))
    .map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  return [...described, ...plain, ...fromObject('query', route.query), ...fromObject('header', route.headers)];
}

function operation(route: RouteDescription) {
  const problem = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
  const responses: Record<string, { description: string; content?: typeof problem }> = {};
  // Every validated input can fail validation; every keyed route can be refused.
  if (route.body || route.query || route.params) responses[400] = { description: 'Invalid request: `errors` names each failing field' };
  if (!route.public) responses[401] = { description: 'Missing or unknown bearer key' };
  for (const [status, description] of Object.entries(route.responses)) responses[status] = { description };
  for (const [status, response] of Object.entries(responses)) {
    if (Number(status) >= 400 && !route.ownErrorBodies?.includes(Number(status))) response.content = problem;
  }
  const routeParameters = parameters(route);
  return {
    summary: route.summary,
    ...(route.public && { security: [] }),
    ...(routeParameters.length && { parameters: routeParameters }),
    ...(route.body && { requestBody: { required: !route.bodyOptional, content: { 'application/json': { schema: jsonSchema(route.body) } } } }),
    responses,
  };
}

export function buildOpenApiDocument(routes: RouteDescription[] = apiRoutes) {
  const paths: Record<string, Record<string, ReturnType<typeof operation>>> = {};
  for (const route of routes) (paths[openApiPath(route.path)] ??= {})[route.method] = operation(route);
  return {
    openapi: '3.1.0',
    info: { title: 'Herald', version, description: 'Durable webhook delivery on Temporal' },
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'HERALD_API_KEY (admin) or a tenant key (hk_…)' } },
      schemas: { Problem: jsonSchema(problemBody) },
    },
  };
}

/** `GET /v1/openapi.json`; mounted ahead of authentication, since clients read it before they hold a key. */
export function openApiRouter(): Router {
  const router = Router();
  let document: ReturnType<typeof buildOpenApiDocument> | undefined;
  router.get('/v1/openapi.json', (_req, res) => {
    document ??= buildOpenApiDocument();
    res.json(document);
  });
  return router;
}
