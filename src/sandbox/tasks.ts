/** What a sandbox thread runs (src/sandbox/thread.ts): each task takes tenant input and may run away. */
import { dataProblems, schemaProblem } from '../jsonSchema.ts';
import { evaluateTransform, type TransformDefinition, type TransformInput } from '../transform/index.ts';

export const sandboxTasks = {
  transform: ({ definition, input }: { definition: TransformDefinition; input: TransformInput }, evaluating: () => void) => evaluateTransform(definition, input, evaluating),
  schemaProblem: (schemaText: string) => schemaProblem(schemaText),
  dataProblems: ({ schemaText, data, eventType }: { schemaText: string; data: unknown; eventType: string }, evaluating: () => void) =>
    dataProblems(schemaText, data, eventType, evaluating),
};

export type SandboxTasks = typeof sandboxTasks;

/**
 * Runs each task once on made-up input before the thread says it is ready: Ajv's first compile and
 * JSONata's first evaluation on a cold thread take hundreds of milliseconds, which would otherwise
 * count against the first tenant's deadline.
 */
export async function warmUp(): Promise<void> {
  const schemaText = JSON.stringify({ type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid', pattern: '^[0-9a-f-]+$' }, at: { type: 'string', format: 'date-time' }, tags: { type: 'array', uniqueItems: true } } });
  schemaProblem(schemaText);
  dataProblems(schemaText, { id: 'not-a-uuid', at: 'now', tags: [1, 1] }, 'warm.up', () => {});
  const at = new Date().toISOString();
  await evaluateTransform({ body: '{"id": event.id, "total": $sum(event.data.items.price), "at": $now()}', headers: { 'X-Id': 'event.id' } }, {
    event: { id: 'evt_warm_up', type: 'warm.up', tenant: 'herald', occurredAt: at, data: { items: [{ price: 1 }, { price: 2 }] } },
    attempt: { number: 1, sentAt: at, sentAtUnix: 0, webhookId: 'msg_warm_up' },
    endpoint: { id: 'ep_warm_up', sourceApp: null },
  }, () => {});
}
