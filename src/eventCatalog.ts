import type { FieldError } from './jsonSchema.ts';
import { EVALUATION_DEADLINE_MS, PREPARATION_DEADLINE_MS, sandbox, SandboxStopped } from './sandbox/index.ts';
import type { EventTypeStore } from './storage/eventTypes.ts';

export type { FieldError };
export { MAX_SCHEMA_VALUES, MAX_EXPANDED_SCHEMA_VALUES } from './jsonSchema.ts';

/**
 * The declared event types of each tenant and what ingest checks against them: `data` must meet
 * the type's schema; undeclared types pass unless `strict`.
 */
export class EventCatalog {
  constructor(readonly store: EventTypeStore, private readonly options: { strict: boolean }) {}

  /** Why a schema cannot be used, or undefined when it compiles; checked on a sandbox thread, under its deadline. */
  async schemaError(schema: Record<string, unknown>): Promise<string | undefined> {
    try {
      return await sandbox.run('schemaProblem', JSON.stringify(schema), { preparationMs: PREPARATION_DEADLINE_MS, deadlineMs: 0 });
    } catch (err) {
      if (err instanceof SandboxStopped) return err.message;
      throw err;
    }
  }

  /** What stops an event from being ingested: empty when nothing does. Checked on a sandbox thread, under its deadline. */
  async check(tenant: string, type: string, data: unknown): Promise<FieldError[]> {
    const declared = await this.store.get(tenant, type);
    if (!declared) return this.options.strict ? [{ field: 'type', message: `"${type}" is not a declared event type` }] : [];
    if (!declared.schema) return [];
    try {
      return await sandbox.run('dataProblems', { schemaText: JSON.stringify(declared.schema), data, eventType: type }, { preparationMs: PREPARATION_DEADLINE_MS, deadlineMs: EVALUATION_DEADLINE_MS });
    } catch (err) {
      if (err instanceof SandboxStopped) return [{ field: 'data', message: `checking it against the schema declared for "${type}" ${err.message}` }];
      throw err;
    }
  }
}
