import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { RE2JS } from 're2js';
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
 * A JSON Schema (draft 2020-12) compiler. One Ajv per schema: a schema's `$id` is then never
 * "already registered" when a type is redeclared, and tenants' schemas never share a namespace.
 */
function compile(schema: Record<string, unknown>): ValidateFunction {
  const ajv = new Ajv2020({ allErrors: true, strict: false, code: { regExp: linearTimeRegExp } });
  addFormats(ajv);
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

  constructor(readonly store: EventTypeStore, private readonly options: { strict: boolean }) {}

  /** Why a schema cannot be used, or undefined when it compiles. */
  schemaError(schema: Record<string, unknown>): string | undefined {
    try {
      compile(schema);
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
    return (validate.errors ?? []).map((error) => ({ field: fieldOf(error), message: error.message ?? 'is invalid' }));
  }

  private validatorFor(declared: EventType, schema: Record<string, unknown>): ValidateFunction {
    const key = `${declared.tenant}\0${declared.name}`;
    const source = JSON.stringify(schema);
    const cached = this.validators.get(key);
    if (cached?.source === source) return cached.validate;
    const validate = compile(schema);
    this.validators.set(key, { source, validate });
    return validate;
  }
}
