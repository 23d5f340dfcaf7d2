/**
 * Request transformations: per endpoint, a JSONata expression for the body and one per header,
 * evaluated for every attempt against `{ event, attempt, endpoint }` (see TransformInput).
 *
 * Tenants write these expressions, so evaluation is bounded. It runs on a sandbox thread
 * (src/sandbox/), never on the event loop of the API or a worker: applyTransform (src/sandbox/transform.ts) posts it there,
 * and a thread still evaluating at EVALUATION_DEADLINE_MS, or past its heap, is terminated and
 * replaced; the result is serialised and size-checked on that thread too. That bound holds for
 * single native steps no check between steps can stop (a deep `=` on objects that share
 * references, `$distinct`, the RegExp `$toMillis` builds from its picture). Within it, JSONata's own
 * guardrails fail an evaluation early with the position that ran away: longer than
 * EVALUATION_TIMEOUT_MS or deeper than MAX_DEPTH (checked at every step), sequences over
 * MAX_SEQUENCE items, strings over MAX_STRING_CHARS. Regular expressions are refused outright (at
 * create, by walking the syntax tree, and at send time, by a RegexEngine that throws): JSONata's
 * string functions (`$contains`, `$split`, `$replace`, ...) take plain strings and cover what a
 * webhook body needs.
 */
import jsonata from 'jsonata';
import { z } from 'zod';

export const EVALUATION_TIMEOUT_MS = 250;
export const MAX_DEPTH = 300;
export const MAX_SEQUENCE = 100_000;
export const MAX_STRING_CHARS = 1_048_576;
/** The transformed body, as JSON text. */
export const MAX_BODY_BYTES = 1_048_576;

/** What every expression is evaluated against. */
export interface TransformInput {
  event: { id: string; type: string; tenant: string; occurredAt: string; data: unknown };
  attempt: { number: number; sentAt: string; sentAtUnix: number; webhookId: string };
  endpoint: { id: string; sourceApp: string | null };
}

/** An endpoint's `transform` field. */
export const transformSchema = z.strictObject({
  /** The request body: the expression's result as JSON. */
  body: z.string().min(1).max(20_000).optional().describe('JSONata expression whose JSON result is the body'),
  /** Header name → expression giving a string (a missing result leaves the header out). */
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'an HTTP header name'), z.string().min(1).max(2_000)).optional()
    .describe('header name → JSONata expression giving a string; may set User-Agent and <prefix>Event-ID / <prefix>Timestamp, not secret or signature headers nor those static headers may not set'),
});
export type TransformDefinition = z.output<typeof transformSchema>;

/** A transform that failed for this event: the attempt fails for good (retrying gives the same answer). */
export class TransformError extends Error {
  constructor(
    readonly field: string,
    /** What went wrong, without the field. */
    readonly reason: string,
    readonly position?: number,
    /** The body expression found nothing in the event (not a failure on a sample event). */
    readonly noResult = false,
    /** It failed to compile (a syntax error, a regex), whatever the event. */
    readonly atCompile = false,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'TransformError';
  }

  /** The reason and, for a syntax or evaluation error, where in the expression. */
  get explanation(): string {
    return this.position === undefined ? this.reason : `${this.reason} (at position ${this.position})`;
  }
}

interface JsonataError {
  code?: string;
  message?: string;
  position?: number;
  token?: string;
}

const isJsonataError = (err: unknown): err is JsonataError => typeof err === 'object' && err !== null && 'code' in err;

const noRegex = 'regular expressions are not allowed in transforms (use $contains, $split, $replace with plain strings)';

/** JSONata's RegexEngine option, called with `new` for every regex it meets (one built by `$eval` included). */
function refusedRegex(): never {
  throw { code: 'H0001', message: noRegex };
}

/** Refuses a regex anywhere in the syntax tree, naming its position. */
function assertNoRegex(node: unknown, field: string): void {
  if (Array.isArray(node)) return node.forEach((child) => assertNoRegex(child, field));
  if (typeof node !== 'object' || node === null) return;
  const record = node as Record<string, unknown>;
  if (record.type === 'regex') {
    throw new TransformError(field, noRegex, record.position as number | undefined);
  }
  for (const [key, child] of Object.entries(record)) if (key !== 'value' || typeof child === 'object') assertNoRegex(child, field);
}

const describe = (err: unknown): { message: string; position?: number } => {
  if (isJsonataError(err)) {
    const message = err.code === 'D1012' ? `took longer than ${EVALUATION_TIMEOUT_MS} ms`
      : err.code === 'D1011' ? `nested deeper than ${MAX_DEPTH} levels`
      : err.code === 'D2015' ? `built a sequence of more than ${MAX_SEQUENCE} items`
      : err.message ?? String(err.code);
    return { message, position: err.position };
  }
  if (err instanceof RangeError) return { message: `ran out of room (${err.message})` };
  return { message: err instanceof Error ? err.message : String(err) };
};

/** A bounded `$pad`: JSONata's builds the padding in one native call, before any check could stop it. */
function boundedPad(str: string | undefined, width: number, char?: string): string | undefined {
  if (str === undefined) return undefined;
  if (Math.abs(width) > MAX_STRING_CHARS) throw { code: 'H0002', message: `$pad width over ${MAX_STRING_CHARS}` };
  const padLength = Math.max(0, Math.abs(Math.trunc(width)) - [...str].length);
  const padding = (char || ' ').repeat(padLength).slice(0, padLength);
  return width > 0 ? str + padding : padding + str;
}

export interface CompiledExpression {
  field: string;
  evaluate(input: object): Promise<unknown>;
}

/** One expression (a transform's body or header, an endpoint's filter) under the guardrails above; throws TransformError naming `field`. */
export function compileExpression(field: string, source: string): CompiledExpression {
  let expression: jsonata.Expression;
  try {
    expression = jsonata(source, { timeout: EVALUATION_TIMEOUT_MS, stack: MAX_DEPTH, sequence: MAX_SEQUENCE, RegexEngine: refusedRegex as never } as jsonata.JsonataOptions);
    // Walking a syntax tree nested thousands deep (`a~>$f` 3,900 times) overflows the stack: too deep, like parsing it.
    assertNoRegex(expression.ast(), field);
  } catch (err) {
    if (err instanceof TransformError) throw err;
    const { message, position } = describe(err);
    throw new TransformError(field, message, position);
  }
  expression.registerFunction('pad', boundedPad, '<s-ns?:s>');
  expression.assign(Symbol.for('jsonata.__evaluate_exit') as never, (_expr: unknown, _input: unknown, _env: unknown, result: unknown) => {
    if (typeof result === 'string' && result.length > MAX_STRING_CHARS) throw { code: 'H0003', message: `built a string longer than ${MAX_STRING_CHARS} characters` };
  });
  return {
    field,
    async evaluate(input) {
      try {
        return await expression.evaluate(input);
      } catch (err) {
        const { message, position } = describe(err);
        throw new TransformError(field, message, position);
      }
    },
  };
}

/** A function (a lambda or a built-in such as `$uppercase`) is no JSON value: JSON.stringify would throw on a lambda's closure, or send its internals. */
const isFunction = (value: unknown) =>
  typeof value === 'function' || (typeof value === 'object' && value !== null && ('_jsonata_lambda' in value || '_jsonata_function' in value));

/** The body's JSON text; a result that has none (a function, anywhere in it) fails the transform, naming its field. */
function jsonText(field: string, value: unknown): string {
  try {
    return JSON.stringify(value, (_key, inner: unknown) => {
      if (isFunction(inner)) throw new TransformError(field, 'gave a function, which is not a JSON value');
      return inner;
    });
  } catch (err) {
    if (err instanceof TransformError) throw err;
    throw new TransformError(field, `gave a result with no JSON text (${err instanceof Error ? err.message : String(err)})`);
  }
}

/**
 * Whether the JSON text of `value` would surely exceed `limit` bytes, counted before serialising it:
 * a result whose objects share their parts can be exponentially larger than what built it
 * (`$a := {"l": $a, "r": $a}` 30 times is 2^30 objects in 30 steps). Counts the fewest bytes each
 * value can take (a string its characters and quotes, a property its key, quotes and colon, every
 * value a separator); stops once past the limit.
 */
function surelyLargerThan(value: unknown, limit: number): boolean {
  let bytes = 0;
  const pending: unknown[] = [value];
  while (pending.length) {
    const next = pending.pop();
    bytes += typeof next === 'string' ? next.length + 3 : 2;
    if (bytes > limit) return true;
    if (typeof next !== 'object' || next === null) continue;
    if (Array.isArray(next)) {
      pending.push(...next);
      continue;
    }
    for (const [key, inner] of Object.entries(next)) {
      bytes += key.length + 3;
      pending.push(inner);
    }
  }
  return false;
}

export interface TransformResult {
  /** The JSON text of the body, when the transform sets one. */
  body?: string;
  /** Headers the transform sets, by name as written; a missing result leaves a header out. */
  headers: Record<string, string>;
}

export interface CompiledTransform {
  apply(input: TransformInput): Promise<TransformResult>;
}

/** Compiles every expression; throws TransformError naming the field (`transform.body`, `transform.headers.X`) and position. */
export function compileTransform(definition: TransformDefinition): CompiledTransform {
  const body = definition.body === undefined ? undefined : compileExpression('transform.body', definition.body);
  const headers = Object.entries(definition.headers ?? {}).map(([name, source]) => ({ name, expression: compileExpression(`transform.headers.${name}`, source) }));
  return {
    async apply(input) {
      const result: TransformResult = { headers: {} };
      if (body) {
        const value = await body.evaluate(input);
        if (value === undefined) throw new TransformError(body.field, 'gave no result for this event', undefined, true);
        if (surelyLargerThan(value, MAX_BODY_BYTES)) throw new TransformError(body.field, `gave a body over ${MAX_BODY_BYTES} bytes`);
        const text = jsonText(body.field, value);
        if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw new TransformError(body.field, `gave a body over ${MAX_BODY_BYTES} bytes`);
        result.body = text;
      }
      for (const { name, expression } of headers) {
        const value = await expression.evaluate(input);
        if (value === undefined) continue;
        if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
          throw new TransformError(expression.field, 'must give a string');
        }
        const text = String(value);
        if (text.length > 8_192 || /[\r\n\0]/.test(text)) throw new TransformError(expression.field, 'must give one line of at most 8192 characters');
        result.headers[name] = text;
      }
      return result;
    },
  };
}

/** Compiled transforms and filters by source, so an attempt or an ingest does not re-parse its endpoint's expressions. */
const cache = new Map<string, unknown>();
const CACHE_LIMIT = 1_000;

/** What `compile` makes of `key` (a kind and the source), compiled once per thread while it is among the latest CACHE_LIMIT. */
export function cachedCompile<T>(key: string, compile: () => T): T {
  let compiled = cache.get(key) as T | undefined;
  if (!compiled) {
    compiled = compile();
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, compiled);
  }
  return compiled;
}

const cachedTransform = (definition: TransformDefinition) => cachedCompile(`transform ${JSON.stringify(definition)}`, () => compileTransform(definition));

/** The event a transform is tried on when an endpoint is created or changed. */
export function sampleInput(endpoint: { id: string; sourceApp: string | null; tenant: string; eventTypes: string[] }): TransformInput {
  const sentAt = new Date();
  const type = endpoint.eventTypes.find((t) => t !== '*' && !t.endsWith('.*')) ?? endpoint.eventTypes[0]!.replace(/\*$/, 'sample').replace(/^sample$/, 'sample.event');
  return {
    event: { id: 'evt_sample', type, tenant: endpoint.tenant, occurredAt: sentAt.toISOString(), data: { sample: true } },
    attempt: { number: 1, sentAt: sentAt.toISOString(), sentAtUnix: Math.floor(sentAt.getTime() / 1000), webhookId: 'msg_sample' },
    endpoint: { id: endpoint.id, sourceApp: endpoint.sourceApp },
  };
}

/** How a transform failed on a sandbox thread, as it crosses back. */
export type TransformOutcome = { result: TransformResult } | { failure: { field: string; reason: string; position?: number; noResult: boolean; atCompile: boolean } };

/** Runs on a sandbox thread (src/sandbox/tasks.ts): the transform's result, or how it failed. */
export async function evaluateTransform(definition: TransformDefinition, input: TransformInput, evaluating: () => void): Promise<TransformOutcome> {
  let compiled: CompiledTransform | undefined;
  try {
    compiled = cachedTransform(definition);
    evaluating();
    return { result: await compiled.apply(input) };
  } catch (err) {
    if (!(err instanceof TransformError)) throw err;
    return { failure: { field: err.field, reason: err.reason, position: err.position, noResult: err.noResult, atCompile: compiled === undefined } };
  }
}
