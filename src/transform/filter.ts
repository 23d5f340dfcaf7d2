/**
 * Endpoint filters: a JSONata expression over the event, evaluated at ingest; `true` delivers the event
 * to the endpoint, anything else does not. Compiled and evaluated exactly as a transform's expressions
 * are (./index.ts: the same guardrails, no regular expressions), on a sandbox thread under the same
 * deadline (src/sandbox/filter.ts).
 */
import { z } from 'zod';
import { cachedCompile, compileExpression, type CompiledExpression, TransformError } from './index.ts';

export const FILTER_FIELD = 'filter';

/** An endpoint's `filter` field. */
export const filterSchema = z.string().min(1).max(20_000)
  .describe('JSONata expression over {event: {id, type, tenant, occurredAt, data, channels, tags}}; the endpoint receives an event only when it gives true (docs/endpoints-and-tenants.md#filters-and-channels); null removes it');

/** What a filter is evaluated against. */
export interface FilterInput {
  event: { id: string; type: string; tenant: string; occurredAt: string; data: unknown; channels: string[]; tags: string[] };
}

/**
 * How one filter judged the event, as it crosses back from a sandbox thread: it matches or not
 * (`noResult`: it gave nothing, which does not match), or it failed (`atCompile`: whatever the event).
 */
export type FilterOutcome = { matches: boolean; noResult?: true } | { failure: { reason: string; position?: number; atCompile: boolean } };

const kindOf = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`);

/** The filter compiled (cached per thread), or how it failed to compile. */
function compiled(source: string): CompiledExpression | FilterOutcome {
  try {
    return cachedCompile(`filter ${source}`, () => compileExpression(FILTER_FIELD, source));
  } catch (err) {
    if (!(err instanceof TransformError)) throw err;
    return { failure: { reason: err.reason, position: err.position, atCompile: true } };
  }
}

async function judge(expression: CompiledExpression, input: FilterInput): Promise<FilterOutcome> {
  try {
    const value = await expression.evaluate(input);
    if (value === undefined) return { matches: false, noResult: true };
    if (typeof value !== 'boolean') return { failure: { reason: `must give true or false; it gave ${kindOf(value)}`, atCompile: false } };
    return { matches: value };
  } catch (err) {
    if (!(err instanceof TransformError)) throw err;
    return { failure: { reason: err.reason, position: err.position, atCompile: false } };
  }
}

/**
 * Runs on a sandbox thread (src/sandbox/tasks.ts): each filter's verdict on one event, in order.
 * Every expression is compiled before the deadline starts.
 */
export async function evaluateFilters(sources: string[], input: FilterInput, evaluating: () => void): Promise<FilterOutcome[]> {
  const expressions = sources.map(compiled);
  evaluating();
  const outcomes: FilterOutcome[] = [];
  for (const expression of expressions) outcomes.push('evaluate' in expression ? await judge(expression, input) : expression);
  return outcomes;
}

/** The reason a failed filter gives, with its position when known. */
export const failureText = (failure: { reason: string; position?: number }) =>
  failure.position === undefined ? failure.reason : `${failure.reason} (at position ${failure.position})`;
