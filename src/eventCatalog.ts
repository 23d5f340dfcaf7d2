import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { RE2JS } from 're2js';
import type { Logger } from './logger.ts';
import type { EventType, EventTypeStore } from './storage/eventTypes.ts';

export interface FieldError {
  field: string;
  message: string;
}

// ajv-formats is CommonJS: its plugin is the module itself, also exposed as `default`.
const addFormats = ajvFormats.default;

/** A named backreference (`\k<name>`): RE2 has none, and re2js would read it as the letters `k<name>`. */
const namedBackreference = /(?:^|[^\\])(?:\\\\)*\\k</;

/**
 * Tenants' `pattern`, `patternProperties` and `propertyNames` run on RE2 (re2js), whose matching
 * time is linear in the input: on V8's backtracking engine, `^(a+)+$` against 28 characters
 * blocked the event loop for 670 ms, doubling with each character. A pattern RE2 cannot run
 * (lookaround, backreferences) fails to compile, so the schema is refused when declared.
 */
const linearTimeRegExp = Object.assign(
  (pattern: string): { test(input: string): boolean; toString(): string } => {
    if (namedBackreference.test(pattern)) throw new Error(`pattern "${pattern}": backreferences are not supported (patterns run on RE2)`);
    let compiled: RE2JS;
    try {
      compiled = RE2JS.compile(RE2JS.translateRegExp(pattern));
    } catch (err) {
      throw new Error(`pattern "${pattern}" is not supported (patterns run on RE2: no lookaround or backreferences): ${err instanceof Error ? err.message : String(err)}`);
    }
    // Ajv keys its compiled patterns by toString().
    return { test: (input) => compiled.test(input), toString: () => `re2:${pattern}` };
  },
  { code: 'linearTimeRegExp' },
);

/**
 * The most JSON values (objects, arrays, strings, numbers, booleans, nulls, at any depth) a
 * declared schema may hold. Ajv compiles in time that grows with the schema, on the event loop:
 * 5,000 properties took about 6 s; 2,000 values compile in about 0.2 s on a loaded 2-vCPU machine
 * and still allow a few hundred properties with several keywords each.
 */
export const MAX_SCHEMA_VALUES = 2_000;

/**
 * The most failures one ingest answer names. A 1 MiB array holds half a million items: naming
 * each failing one took 1.4 s of the event loop and a 26 MB answer.
 */
export const MAX_LISTED_FAILURES = 100;

/** Whether `schema` holds more than `limit` JSON values; stops counting once past it. */
function exceedsValueCount(schema: unknown, limit: number): boolean {
  let count = 0;
  const pending: unknown[] = [schema];
  while (pending.length) {
    const value = pending.pop();
    if (++count > limit) return true;
    if (typeof value === 'object' && value !== null) pending.push(...(Array.isArray(value) ? value : Object.values(value)));
  }
  return false;
}

/**
 * JSON text with every object's properties in sorted order: two JSON values are equal, as JSON
 * Schema defines it, exactly when their canonical texts are (and 1.0 is the number 1 in JSON.parse).
 */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * `uniqueItems` in time linear in the array's size: Ajv's own compares every pair of items (for
 * objects and arrays, or when the items' type is not declared), so 20,000 objects took about 33 s.
 * Same message as Ajv's, earlier item first.
 */
const linearUniqueItems = Object.assign(
  function uniqueItems(unique: boolean, data: unknown[]): boolean {
    linearUniqueItems.errors = undefined;
    if (!unique) return true;
    const firstIndex = new Map<string, number>();
    for (const [i, item] of data.entries()) {
      const key = canonicalJson(item);
      const j = firstIndex.get(key);
      if (j !== undefined) {
        linearUniqueItems.errors = [{ keyword: 'uniqueItems', message: `must NOT have duplicate items (items ## ${j} and ${i} are identical)`, params: { i, j } }];
        return false;
      }
      firstIndex.set(key, i);
    }
    return true;
  },
  { errors: undefined as Partial<ErrorObject>[] | undefined },
);

/**
 * A JSON Schema (draft 2020-12) compiler. One Ajv per schema: a schema's `$id` is then never
 * "already registered" when a type is redeclared, and tenants' schemas never share a namespace.
 * Ajv's warnings (an unknown format, which JSON Schema says to ignore) name tenant text, so they go
 * to Herald's log at debug, never to the console.
 */
function compile(schema: Record<string, unknown>, logger: Logger | undefined): ValidateFunction {
  const debug = (...args: unknown[]) => logger?.debug({ component: 'json-schema' }, args.join(' '));
  const ajv = new Ajv2020({ allErrors: true, strict: false, code: { regExp: linearTimeRegExp }, logger: { log: debug, warn: debug, error: debug } });
  addFormats(ajv);
  ajv.removeKeyword('uniqueItems');
  ajv.addKeyword({ keyword: 'uniqueItems', type: 'array', schemaType: 'boolean', errors: true, validate: linearUniqueItems });
  return ajv.compile(schema);
}

/** `/items/0/price` → `data.items.0.price`, with a missing or unknown property named too. */
function fieldOf(error: ErrorObject): string {
  const path = error.instancePath.split('/').slice(1).map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
  const property = error.params.missingProperty ?? error.params.additionalProperty ?? error.params.unevaluatedProperty;
  return ['data', ...path, ...(typeof property === 'string' ? [property] : [])].join('.');
}

/**
 * The declared event types of each tenant and what ingest checks against them: `data` must meet
 * the type's schema; undeclared types pass unless `strict`.
 */
export class EventCatalog {
  /** Compiled once per declared schema; a redeclared schema (other text) recompiles. */
  private readonly validators = new Map<string, { source: string; validate: ValidateFunction }>();

  constructor(readonly store: EventTypeStore, private readonly options: { strict: boolean; logger?: Logger }) {}

  /** Why a schema cannot be used, or undefined when it compiles. */
  schemaError(schema: Record<string, unknown>): string | undefined {
    if (exceedsValueCount(schema, MAX_SCHEMA_VALUES)) return `too large: more than ${MAX_SCHEMA_VALUES} values (each object, array, string, number, boolean and null in it counts one)`;
    try {
      compile(schema, this.options.logger);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  /** What stops an event from being ingested: empty when nothing does. */
  async check(tenant: string, type: string, data: unknown): Promise<FieldError[]> {
    const declared = await this.store.get(tenant, type);
    if (!declared) return this.options.strict ? [{ field: 'type', message: `"${type}" is not a declared event type` }] : [];
    if (!declared.schema) return [];
    const validate = this.validatorFor(declared, declared.schema);
    try {
      if (validate(data)) return [];
    } catch (err) {
      // A schema that refers to itself without end ({"$ref": "#"}) overflows the stack instead of answering.
      if (err instanceof RangeError) return [{ field: 'type', message: `the schema declared for "${type}" cannot be evaluated: it refers to itself without end` }];
      throw err;
    }
    const failures = validate.errors ?? [];
    const listed = failures.slice(0, MAX_LISTED_FAILURES).map((error) => ({ field: fieldOf(error), message: error.message ?? 'is invalid' }));
    const unlisted = failures.length - listed.length;
    return unlisted ? [...listed, { field: 'data', message: `${unlisted} more failures not listed` }] : listed;
  }

  private validatorFor(declared: EventType, schema: Record<string, unknown>): ValidateFunction {
    const key = `${declared.tenant}\0${declared.name}`;
    const source = JSON.stringify(schema);
    const cached = this.validators.get(key);
    if (cached?.source === source) return cached.validate;
    const validate = compile(schema, this.options.logger);
    this.validators.set(key, { source, validate });
    return validate;
  }
}
