import { Router } from 'express';
import { z } from 'zod';
import { MAX_EXPANDED_SCHEMA_VALUES, MAX_SCHEMA_VALUES, type EventCatalog } from '../eventCatalog.ts';
import { eventType, tenantField } from '../fields.ts';
import { resolveTenant } from './auth.ts';
import type { RouteDescription } from './route.ts';
import { invalidFields, notFound, parse, Problem } from './problem.ts';

/** What a declaration says: `schema` is a JSON Schema (draft 2020-12) that ingested `data` must meet; null accepts any. */
const declaration = z.strictObject({
  description: z.string().max(500).default(''),
  schema: z.record(z.string(), z.unknown()).nullable().default(null),
  tenant: tenantField,
});
const createBody = declaration.extend({ name: eventType });

const listQuery = z.strictObject({
  tenant: tenantField,
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: eventType.optional(),
});
const tenantQuery = z.strictObject({ tenant: tenantField });
const nameParams = z.object({ name: eventType });

const noEventType = 'no such event type';
const unusableSchema = `invalid fields; \`schema\` is refused when it is not valid JSON Schema, holds more than ${MAX_SCHEMA_VALUES} values (${MAX_EXPANDED_SCHEMA_VALUES} with every $ref expanded), takes longer than the evaluation deadline to compile, or has a pattern RE2 cannot run`;
export const eventTypeRoutes: RouteDescription[] = [
  {
    method: 'post', path: '/v1/event-types', summary: 'Declare an event type and the JSON Schema its data must meet', body: createBody,
    responses: { 201: 'the event type', 400: unusableSchema, 409: 'already declared; PUT replaces it' },
  },
  { method: 'get', path: '/v1/event-types', summary: 'List event types', query: listQuery, responses: { 200: '{ data: [eventType], nextCursor }' } },
  { method: 'get', path: '/v1/event-types/:name', summary: 'Read an event type', params: nameParams, query: tenantQuery, responses: { 200: 'the event type', 404: noEventType } },
  {
    method: 'put', path: '/v1/event-types/:name', summary: 'Declare or replace an event type', params: nameParams, body: declaration,
    responses: { 200: 'the event type as replaced', 201: 'the event type as declared', 400: unusableSchema },
  },
  { method: 'delete', path: '/v1/event-types/:name', summary: 'Remove an event type', params: nameParams, query: tenantQuery, responses: { 204: 'removed', 404: noEventType } },
];

/** The event catalog: POST and GET /v1/event-types, GET, PUT and DELETE /v1/event-types/:name. */
export function eventTypesRouter(catalog: EventCatalog, declarationsChanged: () => Promise<void> = async () => {}): Router {
  const router = Router();
  const { store } = catalog;

  const usableSchema = async (schema: Record<string, unknown> | null) => {
    const error = schema && (await catalog.schemaError(schema));
    if (error) throw invalidFields([{ field: 'schema', message: `not a usable JSON Schema: ${error}` }]);
  };

  router.post('/v1/event-types', async (req, res) => {
    const { tenant, ...body } = parse(createBody, req.body);
    await usableSchema(body.schema);
    const created = await store.create({ ...body, tenant: resolveTenant(res, tenant) });
    if (!created) throw new Problem(409, 'Conflict', `event type ${body.name} is already declared; PUT /v1/event-types/${body.name} replaces it`);
    await declarationsChanged();
    res.status(201).location(`/v1/event-types/${created.name}`).json(created);
  });

  router.get('/v1/event-types', async (req, res) => {
    const query = parse(listQuery, req.query, 'query');
    const page = await store.list(resolveTenant(res, query.tenant), { limit: query.limit, after: query.after });
    res.json({ data: page, nextCursor: page.length === query.limit ? page.at(-1)!.name : null });
  });

  router.get('/v1/event-types/:name', async (req, res) => {
    const { name } = parse(nameParams, req.params, 'params');
    const { tenant } = parse(tenantQuery, req.query, 'query');
    const found = await store.get(resolveTenant(res, tenant), name);
    if (!found) throw notFound(`event type ${name}`);
    res.json(found);
  });

  router.put('/v1/event-types/:name', async (req, res) => {
    const { name } = parse(nameParams, req.params, 'params');
    const { tenant, ...body } = parse(declaration, req.body);
    await usableSchema(body.schema);
    const { eventType: saved, created } = await store.put({ ...body, name, tenant: resolveTenant(res, tenant) });
    await declarationsChanged();
    res.status(created ? 201 : 200).json(saved);
  });

  router.delete('/v1/event-types/:name', async (req, res) => {
    const { name } = parse(nameParams, req.params, 'params');
    const { tenant } = parse(tenantQuery, req.query, 'query');
    if (!(await store.delete(resolveTenant(res, tenant), name))) throw notFound(`event type ${name}`);
    await declarationsChanged();
    res.status(204).end();
  });

  return router;
}
