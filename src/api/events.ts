import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/client';
import { Router } from 'express';
import crypto from 'node:crypto';
import { z } from 'zod';
import type { EventCatalog } from '../eventCatalog.ts';
import type { Logger } from '../logger.ts';
import type { Deliveries } from '../temporal/deliveries.ts';
import type { eventWorkflow } from '../../workflows/event.ts';
import { HeraldEventType, HeraldTenant } from '../../workflows/searchAttributes.ts';
import { eventWorkflowId, type EventWorkflowOptions, type HeraldEvent } from '../../workflows/types.ts';
import { eventType, identifier, tenantField } from './fields.ts';
import { resolveTenant } from './auth.ts';
import type { RouteDescription } from './openapi.ts';
import { invalidFields, notFound, parse, Problem } from './problem.ts';

const ingestBody = z.strictObject({
  id: identifier.optional(),
  type: eventType,
  data: z.unknown().default({}),
  tenant: tenantField,
  occurredAt: z.iso.datetime({ offset: true }).optional(),
});
const eventQuery = z.object({ tenant: tenantField });
const eventParams = z.object({ eventId: identifier });

export const eventRoutes: RouteDescription[] = [
  {
    method: 'post', path: '/v1/events', summary: 'Ingest an event (the id may also come as an Idempotency-Key header)', body: ingestBody,
    responses: {
      202: '{ eventId, workflowId, status: "accepted" }',
      200: '{ eventId, workflowId, status: "duplicate" }: the id was seen before; nothing is delivered again',
      403: 'a tenant key naming another tenant',
      503: 'Temporal is unreachable (with Retry-After); nothing was accepted',
    },
  },
  {
    method: 'get', path: '/v1/events/:eventId', summary: 'The event as ingested and each of its deliveries', params: eventParams, query: eventQuery,
    responses: { 200: '{ event, status: "dispatching" | "dispatched", deliveries }', 404: 'no such event' },
  },
];

export interface EventsDeps {
  client: Client;
  deliveries: Deliveries;
  catalog: EventCatalog;
  taskQueue: string;
  eventWorkflowOptions: EventWorkflowOptions;
  eagerStart: boolean;
  logger: Logger;
}

const START_DEADLINE_MS = 5_000;

export function eventsRouter(deps: EventsDeps): Router {
  const router = Router();

  router.post('/v1/events', async (req, res) => {
    const body = parse(ingestBody, req.body);
    const headerKey = req.get('idempotency-key');
    if (headerKey !== undefined) parse(identifier, headerKey, 'body');
    if (body.id && headerKey && body.id !== headerKey) {
      throw new Problem(400, 'Invalid request', 'id and Idempotency-Key differ', [{ field: 'id', message: 'must equal the Idempotency-Key header when both are given' }]);
    }
    const event: HeraldEvent = {
      tenant: resolveTenant(res, body.tenant),
      id: body.id ?? headerKey ?? `evt_${crypto.randomUUID()}`,
      type: body.type,
      occurredAt: body.occurredAt ? new Date(body.occurredAt).toISOString() : new Date().toISOString(),
      data: body.data,
    };
    const catalogErrors = await deps.catalog.check(event.tenant, event.type, event.data);
    if (catalogErrors.length) throw invalidFields(catalogErrors);
    const workflowId = eventWorkflowId(event.tenant, event.id);
    try {
      await deps.client.withDeadline(Date.now() + START_DEADLINE_MS, () =>
        deps.client.workflow.start<typeof eventWorkflow>('eventWorkflow', {
          workflowId,
          taskQueue: deps.taskQueue,
          args: [event, deps.eventWorkflowOptions],
          requestEagerStart: deps.eagerStart,
          // An id seen within the namespace retention is a duplicate, running or closed.
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
          staticSummary: `${event.type} (${event.tenant})`,
          typedSearchAttributes: [
            { key: HeraldTenant, value: event.tenant },
            { key: HeraldEventType, value: event.type },
          ],
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        deps.logger.info({ eventId: event.id, tenant: event.tenant, workflowId }, 'duplicate event ignored');
        res.status(200).json({ eventId: event.id, workflowId, status: 'duplicate' });
        return;
      }
      throw err;
    }
    deps.logger.info({ eventId: event.id, tenant: event.tenant, eventType: event.type, workflowId }, 'event accepted');
    res.status(202).json({ eventId: event.id, workflowId, status: 'accepted' });
  });

  /** The event as ingested and each of its deliveries, all read back from Temporal. */
  router.get('/v1/events/:eventId', async (req, res) => {
    const { tenant } = parse(eventQuery, req.query, 'query');
    const { eventId } = parse(eventParams, req.params, 'params');
    const handle = deps.client.workflow.getHandle<typeof eventWorkflow>(eventWorkflowId(resolveTenant(res, tenant), eventId));
    let dispatched: boolean;
    try {
      dispatched = (await handle.describe()).status.name === 'COMPLETED';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound(`event ${eventId}`);
      throw err;
    }
    const event = await deps.deliveries.startInput<HeraldEvent>(handle.workflowId);
    const deliveryIds = dispatched ? (await handle.result()).deliveryIds : [];
    const deliveries = await Promise.all(deliveryIds.map((id) => deps.deliveries.status(id)));
    res.json({ event, status: dispatched ? 'dispatched' : 'dispatching', deliveries: deliveries.filter(Boolean) });
  });

  return router;
}
