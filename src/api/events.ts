import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/client';
import { Router } from 'express';
import crypto from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../logger.ts';
import { isTemporalUnreachable, temporalUnavailable } from '../temporal/errors.ts';
import type { eventWorkflow } from '../../workflows/event.ts';
import { HeraldEventType, HeraldTenant } from '../../workflows/searchAttributes.ts';
import { eventWorkflowId, type HeraldEvent } from '../../workflows/types.ts';
import { eventType, identifier, tenantField } from './fields.ts';
import { resolveTenant } from './auth.ts';
import { parse, Problem } from './problem.ts';

const ingestBody = z.strictObject({
  id: identifier.optional(),
  type: eventType,
  data: z.unknown().default({}),
  tenant: tenantField,
  occurredAt: z.iso.datetime({ offset: true }).optional(),
});

export interface EventsDeps {
  client: Client;
  taskQueue: string;
  deadLetterRetentionMs: number;
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
    const workflowId = eventWorkflowId(event.tenant, event.id);
    try {
      await deps.client.withDeadline(Date.now() + START_DEADLINE_MS, () =>
        deps.client.workflow.start<typeof eventWorkflow>('eventWorkflow', {
          workflowId,
          taskQueue: deps.taskQueue,
          args: [event, { deadLetterRetentionMs: deps.deadLetterRetentionMs }],
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
      if (isTemporalUnreachable(err)) throw temporalUnavailable();
      throw err;
    }
    deps.logger.info({ eventId: event.id, tenant: event.tenant, eventType: event.type, workflowId }, 'event accepted');
    res.status(202).json({ eventId: event.id, workflowId, status: 'accepted' });
  });

  return router;
}
