/**
 * Tenants' JSON Schemas (draft 2020-12, Ajv), as the sandbox runs them (src/sandbox/tasks.ts): every
 * function here walks tenant input and runs on a sandbox thread under a hard deadline, never on an
 * event loop that serves requests or deliveries.
 */
import { _, Ajv2020, str, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { CodeKeywordDefinition } from 'ajv';
import ajvFormats from 'ajv-formats';
import { RE2JS } from 're2js';

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

/**
 * The most values a schema may hold once every `$ref` is replaced by what it refers to. The value
 * cap does not bound this: `d_i = {allOf: [{$ref: d_i+1}, {$ref: d_i+1}]}` costs 6 values a level
 * and doubles the work of every check, so 28 levels (1.8 KB) took 2.7 s to check `{}`.
 */
export const MAX_EXPANDED_SCHEMA_VALUES = 50_000;

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
 * Answers the first duplicate as [earlier index, later index].
 */
function firstDuplicate(data: unknown[]): [number, number] | undefined {
  const firstIndex = new Map<string, number>();
  for (const [i, item] of data.entries()) {
    const key = canonicalJson(item);
    const j = firstIndex.get(key);
    if (j !== undefined) return [j, i];
    firstIndex.set(key, i);
  }
  return undefined;
}

/**
 * The keyword, as code Ajv inlines calling firstDuplicate, with Ajv's own message: as a
 * `validate` function keyword it compiled five times slower (999 of them took 2.4 s).
 */
const linearUniqueItems: CodeKeywordDefinition = {
  keyword: 'uniqueItems', type: 'array', schemaType: 'boolean',
  error: {
    message: ({ params }) => str`must NOT have duplicate items (items ## ${params.j} and ${params.i} are identical)`,
    params: ({ params }) => _`{i: ${params.i}, j: ${params.j}}`,
  },
  code(cxt) {
    const { gen, data, schema } = cxt;
    if (!schema) return;
    const duplicate = gen.const('duplicate', _`${gen.scopeValue('func', { ref: firstDuplicate })}(${data})`);
    cxt.setParams({ j: _`${duplicate}[0]`, i: _`${duplicate}[1]` });
    cxt.fail(_`${duplicate} !== undefined`);
  },
};

/**
 * A JSON Schema (draft 2020-12) compiler. One Ajv per schema: a schema's `$id` is then never
 * "already registered" when a type is redeclared, and tenants' schemas never share a namespace.
 * Ajv's warnings (an unknown format, which JSON Schema says to ignore) name tenant text: they are
 * dropped, never printed.
 */
function compile(schema: Record<string, unknown>): ValidateFunction {
  const ignore = () => {};
  // Ajv's optimisation passes over the generated code cost more than they save: without them a
  // schema at the value cap compiles in about half the time.
  const ajv = new Ajv2020({ allErrors: true, strict: false, code: { regExp: linearTimeRegExp, optimize: false }, logger: { log: ignore, warn: ignore, error: ignore } });
  addFormats(ajv);
  ajv.removeKeyword('uniqueItems');
  ajv.addKeyword(linearUniqueItems);
  return ajv.compile(schema);
}

/** `/items/0/price` → `data.items.0.price`, with a missing or unknown property named too. */
function fieldOf(error: ErrorObject): string {
  const path = error.instancePath.split('/').slice(1).map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
  const property = error.params.missingProperty ?? error.params.additionalProperty ?? error.params.unevaluatedProperty;
  return ['data', ...path, ...(typeof property === 'string' ? [property] : [])].join('.');
}

/** Every subschema by the URI a `$ref` may name it with, and each object's base URI, for expandedSize. */
function indexSchema(root: unknown) {
  const byUri = new Map<string, unknown>();
  const baseOf = new Map<object, string>();
  const walk = (node: unknown, base: string, pointer: string, resource: string) => {
    if (typeof node !== 'object' || node === null) return;
    let here = base;
    let resourcePointer = pointer;
    let resourceUri = resource;
    if (!Array.isArray(node)) {
      const record = node as Record<string, unknown>;
      if (typeof record.$id === 'string') {
        here = resolveUri(record.$id, base);
        resourceUri = here.split('#')[0]!;
        resourcePointer = '';
        byUri.set(resourceUri, node);
      }
      for (const anchor of [record.$anchor, record.$dynamicAnchor]) if (typeof anchor === 'string') byUri.set(`${resourceUri}#${anchor}`, node);
      baseOf.set(node, here);
    }
    byUri.set(`${resourceUri}#${resourcePointer}`, node);
    for (const [key, child] of Object.entries(node)) walk(child, here, `${resourcePointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, resourceUri);
  };
  walk(root, ROOT_URI, '', ROOT_URI);
  return { byUri, baseOf };
}

const ROOT_URI = 'herald:/schema';

function resolveUri(ref: string, base: string): string {
  try {
    const url = new URL(ref, base);
    // `#/a%20b` names the property "a b".
    return url.hash ? `${url.href.split('#')[0]}#${decodeURIComponent(url.hash.slice(1))}` : `${url.href}#`;
  } catch {
    return ref;
  }
}

/**
 * Whether `schema` holds more than `limit` values with each `$ref` (and `$dynamicRef`) counted as
 * the size of what it names, every time it is used. Memoised per subschema, so linear in the
 * schema; stops counting past the limit. A reference back into a subschema being counted (a
 * recursive schema, for trees) counts one: its checks are bounded by the depth of the data.
 */
export function exceedsExpandedSize(schema: unknown, limit: number): boolean {
  const { byUri, baseOf } = indexSchema(schema);
  const sizes = new Map<object, number>();
  const counting = new Set<object>();
  const size = (node: unknown): number => {
    if (typeof node !== 'object' || node === null) return 1;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    if (counting.has(node)) return 1;
    counting.add(node);
    let total = 1;
    for (const [key, child] of Object.entries(node)) {
      const target = (key === '$ref' || key === '$dynamicRef') && typeof child === 'string' && !Array.isArray(node)
        ? byUri.get(resolveUri(child, baseOf.get(node) ?? ROOT_URI))
        : undefined;
      total += size(child) + (target === undefined ? 0 : size(target));
      if (total > limit) break;
    }
    counting.delete(node);
    const capped = Math.min(total, limit + 1);
    sizes.set(node, capped);
    return capped;
  };
  return size(schema) > limit;
}

/** Why a declared schema cannot be used, or undefined when it can. */
export function schemaProblem(schemaText: string): string | undefined {
  const schema = JSON.parse(schemaText) as Record<string, unknown>;
  if (exceedsValueCount(schema, MAX_SCHEMA_VALUES)) return `too large: more than ${MAX_SCHEMA_VALUES} values (each object, array, string, number, boolean and null in it counts one)`;
  if (exceedsExpandedSize(schema, MAX_EXPANDED_SCHEMA_VALUES)) {
    return `too large once its references are expanded: more than ${MAX_EXPANDED_SCHEMA_VALUES} values (each $ref counts the values of the subschema it names, every time it is used)`;
  }
  try {
    // Kept: the first event of the type is then checked without compiling again, when it comes to this thread.
    validatorFor(schemaText);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Compiled validators of this thread by schema text, the most recently used last. */
const validators = new Map<string, ValidateFunction>();
const VALIDATOR_CACHE_LIMIT = 500;

function validatorFor(schemaText: string): ValidateFunction {
  let validate = validators.get(schemaText);
  if (validate) {
    validators.delete(schemaText);
  } else {
    validate = compile(JSON.parse(schemaText) as Record<string, unknown>);
    if (validators.size >= VALIDATOR_CACHE_LIMIT) validators.delete(validators.keys().next().value!);
  }
  validators.set(schemaText, validate);
  return validate;
}

/** What in `data` fails the schema (at most MAX_LISTED_FAILURES named, then how many more); empty when it passes. */
export function dataProblems(schemaText: string, data: unknown, eventType: string, evaluating: () => void): FieldError[] {
  const validate = validatorFor(schemaText);
  evaluating();
  try {
    if (validate(data)) return [];
  } catch (err) {
    // A schema that refers to itself without end ({"$ref": "#"}) overflows the stack instead of answering.
    if (err instanceof RangeError) return [{ field: 'type', message: `the schema declared for "${eventType}" cannot be evaluated: it refers to itself without end` }];
    throw err;
  }
  const failures = validate.errors ?? [];
  const listed = failures.slice(0, MAX_LISTED_FAILURES).map((error) => ({ field: fieldOf(error), message: error.message ?? 'is invalid' }));
  const unlisted = failures.length - listed.length;
  return unlisted ? [...listed, { field: 'data', message: `${unlisted} more failures not listed` }] : listed;
}
