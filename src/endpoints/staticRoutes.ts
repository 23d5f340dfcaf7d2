/**
 * Static routes: endpoints defined by configuration instead of the API, for senders that were
 * configured by environment (ORDER_WEBHOOK_URL, MAKE_BOOKING_WEBHOOK_URL, WEBHOOK_SECRET, ...).
 * They come from a routes file (YAML or JSON, named by HERALD_ROUTES_FILE) and from
 * HERALD_ROUTE_<NAME>_<FIELD> / HERALD_FALLBACK_<FIELD> variables, and take the same definition
 * as POST /v1/endpoints plus a name and, for one route per tenant, `fallback: true`.
 *
 * A route whose URL is empty or unset is left out, as the old senders skipped a webhook whose
 * variable was not set; with a fallback route, its event types then go to the fallback.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { secretOptional } from '../signing/index.ts';
import { checkEndpointDefinition, endpointDefinition, retrySettings, transformSyntaxProblems } from './definition.ts';
import { eventTypePattern, identifier } from '../fields.ts';
import { type DestinationPolicy, urlRefusal } from '../delivery/destinations.ts';
import type { RetryPolicy } from '../delivery/retryPolicy.ts';
import type { StaticRoute } from './store.ts';

const routeSchema = endpointDefinition
  .omit({ eventTypes: true, tenant: true, allTenants: true, filter: true, channels: true })
  .extend({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, "_" and "-"'),
    eventTypes: z.array(eventTypePattern).min(1).max(100).optional(),
    /** Receives the event types of its tenant that no other static route takes. */
    fallback: z.boolean().default(false),
    tenant: identifier.default('default'),
  })
  .superRefine((route, ctx) => {
    checkEndpointDefinition(route, ctx);
    // Configuration, not tenant input: its expressions are compiled here, once, at start.
    if (route.transform) for (const problem of transformSyntaxProblems(route.transform)) ctx.addIssue({ code: 'custom', ...problem });
    if (route.fallback && route.eventTypes) {
      ctx.addIssue({ code: 'custom', path: ['eventTypes'], message: 'a fallback route takes the types no other route takes; leave eventTypes out' });
    }
    if (!route.fallback && !route.eventTypes) {
      ctx.addIssue({ code: 'custom', path: ['eventTypes'], message: 'required unless "fallback": true' });
    }
    // Herald cannot invent a secret the receiver already knows. Without one, shared-secret and
    // hmac-sha256 send no secret header, as the order form did without WEBHOOK_SECRET.
    if (!route.secret && !secretOptional(route.signature.scheme)) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: `required for signature "${route.signature.scheme}" (or use signature "none")` });
    }
  });

const routeList = z.array(routeSchema).superRefine((routes, ctx) => {
  const seen = new Set<string>();
  const fallbacks = new Set<string>();
  routes.forEach((route, i) => {
    if (seen.has(route.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${route.name}" is defined twice` });
    if (route.fallback && fallbacks.has(route.tenant)) {
      ctx.addIssue({ code: 'custom', path: [i, 'fallback'], message: `tenant "${route.tenant}" already has a fallback route` });
    }
    seen.add(route.name);
    if (route.fallback) fallbacks.add(route.tenant);
  });
});

const routesFile = z.strictObject({ routes: z.array(z.record(z.string(), z.unknown())) });

/** HERALD_ROUTE_<NAME>_<FIELD> and HERALD_FALLBACK_<FIELD>: the variable suffix for each field. */
const envFields = {
  URL: 'url', EVENTS: 'eventTypes', SECRET: 'secret', FORMAT: 'format', SIGNATURE: 'signature', RETRY_POLICY: 'retryPolicy',
  TIMEOUT_MS: 'timeoutMs', HEADERS: 'headers', SOURCE_APP: 'sourceApp', TENANT: 'tenant', DESCRIPTION: 'description',
  TRANSFORM: 'transform',
} as const;
type EnvField = keyof typeof envFields;
const suffixes = Object.keys(envFields).join('|');
const routeVariable = new RegExp(`^HERALD_ROUTE_([A-Z0-9_]+?)_(${suffixes})$`);
const fallbackVariable = new RegExp(`^HERALD_FALLBACK_(${suffixes})$`);

/** A route as read, before validation, and how to name one of its fields in an error. */
interface RawRoute {
  fields: Record<string, unknown>;
  where(field: string): string;
}

export type StaticRoutesResult =
  | { ok: true; routes: StaticRoute[]; /** Where each route left out for an empty URL was defined. */ leftOut: string[] }
  | { ok: false; errors: string[] };

/**
 * Reads and validates every static route once, at start; errors name the file field or variable.
 * URLs meet the same destination policy as the API's (no private addresses unless allowed,
 * https in production): configuration is no way around it.
 */
export function loadStaticRoutes(env: NodeJS.ProcessEnv, routesFilePath: string | undefined, destinations: DestinationPolicy): StaticRoutesResult {
  const errors: string[] = [];
  const read = [...(routesFilePath ? readRoutesFile(routesFilePath, env, errors) : []), ...readRouteVariables(env, errors)];
  if (errors.length) return { ok: false, errors };
  // An empty secret (`${WEBHOOK_SECRET:-}` with the variable unset) is no secret.
  for (const route of read) if (route.fields.secret === '') delete route.fields.secret;
  const raw = read.filter((r) => r.fields.url !== '');
  const leftOut = read.filter((r) => r.fields.url === '').map((r) => r.where('url'));
  const parsed = routeList.safeParse(raw.map((r) => r.fields));
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((issue) => {
        const [index, field, ...rest] = issue.path.map(String);
        const at = raw[Number(index)]?.where(field ?? '') ?? 'static routes';
        return `${[at, ...rest].join('.')}: ${issue.message}`;
      }),
    };
  }
  const refusals = parsed.data.flatMap((route, i) => {
    const refusal = urlRefusal(route.url, destinations);
    return refusal ? [`${raw[i]!.where('url')}: ${refusal}`] : [];
  });
  if (refusals.length) return { ok: false, errors: refusals };
  return {
    ok: true,
    leftOut,
    routes: parsed.data.map(({ name, fallback, eventTypes, secret, timeoutMs, retryPolicy: _compiled, ...definition }, i) => ({
      ...definition,
      name,
      fallback,
      eventTypes: eventTypes ?? ['*'],
      secret: secret ?? '',
      // Stored as declared, like the API stores it.
      ...retrySettings(raw[i]!.fields.retryPolicy as RetryPolicy | undefined, timeoutMs),
    })),
  };
}

function readRoutesFile(file: string, env: NodeJS.ProcessEnv, errors: string[]): RawRoute[] {
  const label = `HERALD_ROUTES_FILE (${file})`;
  let document: unknown;
  try {
    // JSON is YAML too, so one parser reads either.
    document = YAML.parse(fs.readFileSync(path.resolve(file), 'utf8'));
  } catch (err) {
    errors.push(`${label}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    return [];
  }
  const shape = routesFile.safeParse(document);
  if (!shape.success) {
    errors.push(...shape.error.issues.map((i) => `${label} ${i.path.join('.') || '(top level)'}: ${i.message}`));
    return [];
  }
  return shape.data.routes.map((fields, i) => {
    const where = (field: string) => `${label} routes.${i}${field ? `.${field}` : ''}`;
    // An unset variable in `url` leaves the route out, as the old senders skipped an unset webhook URL.
    return { fields: expandVariables(fields, env, (key, name) => key !== 'url' && errors.push(`${where(key)}: \${${name}} is not set`)) as Record<string, unknown>, where };
  });
}

/**
 * `${NAME}` in a string value of the routes file is replaced by that environment variable, so
 * URLs and secrets can stay out of the file; `${NAME:-default}` stands for default when NAME is
 * unset or empty (`${NAME:-}` lets a route's URL be optional).
 */
function expandVariables(value: unknown, env: NodeJS.ProcessEnv, missing: (key: string, name: string) => void, key = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => {
      if (fallback !== undefined) return env[name] || fallback;
      if (env[name] === undefined) missing(key, name);
      return env[name] ?? '';
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => expandVariables(item, env, missing, `${key}.${i}`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandVariables(v, env, missing, key ? `${key}.${k}` : k)]));
  }
  return value;
}

function readRouteVariables(env: NodeJS.ProcessEnv, errors: string[]): RawRoute[] {
  const routes = new Map<string, { fields: Record<string, unknown>; variables: Record<string, string> }>();
  for (const [variable, value] of Object.entries(env)) {
    // An empty variable counts as unset, as in most .env files.
    if (!value) continue;
    const route = routeVariable.exec(variable);
    const fallback = fallbackVariable.exec(variable);
    if (!route && !fallback) continue;
    const name = route ? route[1]!.toLowerCase() : 'fallback';
    const suffix = (route ? route[2] : fallback![1]) as EnvField;
    if (fallback && suffix === 'EVENTS') {
      errors.push(`${variable}: the fallback route takes the types no other route takes; it has no EVENTS`);
      continue;
    }
    // Without a URL variable the route is left out, like a route file URL that expands to ''.
    const entry = routes.get(name) ?? { fields: { name, url: '', ...(fallback && { fallback: true }) }, variables: {} };
    routes.set(name, entry);
    const field = envFields[suffix];
    entry.variables[field] = variable;
    try {
      entry.fields[field] = decodeVariable(field, value);
    } catch {
      errors.push(`${variable}: not valid JSON`);
    }
  }
  return [...routes.values()].map(({ fields, variables }) => ({
    fields,
    // A field that was not set is named by the variable it would have come from.
    where: (field) => variables[field] ?? variableFor(fields, suffixOf[field] ?? '*'),
  }));
}

const suffixOf: Record<string, string> = Object.fromEntries(Object.entries(envFields).map(([suffix, field]) => [field, suffix]));

function variableFor(fields: Record<string, unknown>, suffix: string): string {
  return fields.fallback ? `HERALD_FALLBACK_${suffix}` : `HERALD_ROUTE_${String(fields.name).toUpperCase()}_${suffix}`;
}

function decodeVariable(field: (typeof envFields)[EnvField], value: string): unknown {
  switch (field) {
    case 'eventTypes':
      return value.split(',').map((type) => type.trim()).filter(Boolean);
    case 'timeoutMs':
      return Number(value);
    case 'signature':
    case 'retryPolicy':
    case 'headers':
    case 'transform':
      // A name ("shared-secret", "make") or a JSON object ({"scheme": "hmac-sha256", ...}).
      return value.trimStart().startsWith('{') ? JSON.parse(value) : value;
    default:
      return value;
  }
}
