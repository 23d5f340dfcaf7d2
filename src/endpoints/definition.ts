import { z } from 'zod';
import { compileRetryPolicy, retryPolicySchema, type RetryPolicy } from '../delivery/retryPolicy.ts';
import { protectedHeaders } from '../delivery/request.ts';
import { duration } from '../duration.ts';
import { authHeaderOf, type AuthType, endpointAuthSchema } from './auth.ts';
import { endpointUrl, eventLabels, eventTypePattern, MAX_CHANNELS, tenantField } from '../fields.ts';
import { formatNames } from '../formats/index.ts';
import { staticHeaders } from '../headers.ts';
import { SEALED_PREFIX } from '../keys.ts';
import { secretOptional, signatureSchema, type SignatureConfig } from '../signing/index.ts';
import { filterSchema } from '../transform/filter.ts';
import { compileTransform, TransformError, transformSchema, type TransformDefinition } from '../transform/index.ts';

/**
 * What defines an endpoint and the rules across its fields: POST /v1/endpoints, PATCH, previews,
 * test sends and the static routes file all take it from here.
 */

/** An attempt's timeout when neither the endpoint nor its retry preset sets one. */
export const DEFAULT_TIMEOUT_MS = 15_000;

/** Any length here: a legacy shared secret is only compared, so even a short one keeps working. */
export const secretField = z.string().min(1).max(256).refine((secret) => !secret.startsWith(SEALED_PREFIX), `may not start with "${SEALED_PREFIX}", the mark of a sealed secret`);
const MIN_SIGNING_SECRET_LENGTH = 8;

/** Why `secret` cannot sign under `scheme`, or undefined when it can. */
export function secretUnfitFor(scheme: string, secret: string): string | undefined {
  if (scheme === 'standard-webhooks' && !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) {
    return 'a Standard Webhooks secret is "whsec_" followed by base64';
  }
  if (scheme !== 'shared-secret' && secret.length < MIN_SIGNING_SECRET_LENGTH) return `at least ${MIN_SIGNING_SECRET_LENGTH} characters to sign with`;
  return undefined;
}


export const onlyMakeSendsSourceApp = 'only the "make" format sends source_app';

/** An `eventTypes` pattern: `*` matches everything, `order.*` every type under `order.`, anything else itself. */
export function matchesEventType(pattern: string, eventType: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return eventType.startsWith(pattern.slice(0, -1));
  return pattern === eventType;
}

/** Everything an endpoint is configured with, no defaults: the create body adds them, PATCH takes any subset. */
export const endpointSettings = z.strictObject({
  url: endpointUrl,
  eventTypes: z.array(eventTypePattern).min(1).max(100),
  description: z.string().max(500),
  retryPolicy: retryPolicySchema,
  timeoutMs: z.number().int().min(100).max(60_000),
  format: z.enum(formatNames),
  signature: signatureSchema,
  headers: staticHeaders,
  enabled: z.boolean(),
  /** `make` format only: the `source_app` it sends (the order form's SOURCE_APP); the tenant by default. */
  sourceApp: z.string().min(1).max(128),
  /** JSONata expressions for the body and headers, instead of the format preset; null removes it. */
  transform: transformSchema.nullable().describe('JSONata expressions for the body and headers, evaluated per attempt against {event, attempt, endpoint}; null removes it (docs/integrations.md#request-transforms)'),
  /** Receive the matching events of every tenant (admin key only). */
  allTenants: z.boolean().describe('admin key only: receive the matching events of every tenant'),
  /** Requests per second to this endpoint across every worker, and how many may go at once after a quiet spell; null: no limit. */
  rateLimit: z.strictObject({
    perSecond: z.number().positive().max(10_000),
    burst: z.number().int().min(1).max(10_000).optional(),
  }).transform(({ perSecond, burst }) => ({ perSecond, burst: burst ?? Math.max(1, Math.ceil(perSecond)) })).nullable()
    .describe('Requests per second to this endpoint across all workers; burst (default: one second\'s worth) may go at once after a quiet spell. Waiting for capacity is not an attempt. null: no limit.'),
  ordering: z.enum(['fifo']).nullable()
    .describe('"fifo": one delivery in flight at a time, in the order Herald accepted the events; null (default): concurrent.'),
  onFailure: z.enum(['block', 'skip'])
    .describe('With "fifo": a delivery that fails for good holds the line until replayed or cancelled ("block", default), or is set aside ("skip").'),
  /** Continuous failure after which Herald disables the endpoint (a duration such as "5d"); null: never. */
  disableAfter: z.string().refine((text) => duration.safeParse(text).success, 'a duration such as "12h" or "5d"').nullable()
    .describe('Continuous failure after which Herald disables the endpoint (default HERALD_DISABLE_AFTER, 5d); null: never.'),
  auth: endpointAuthSchema,
  filter: filterSchema.nullable(),
  channels: eventLabels(MAX_CHANNELS).nullable()
    .describe(`Receive only events posted in one of these channels (at most ${MAX_CHANNELS}); null (default): every event of its types, whatever its channels`),
  proxy: z.boolean().describe('false: requests to this endpoint (and its OAuth2 token URL) go straight to it, not through the egress proxy (HERALD_EGRESS_PROXY); default true. Without a proxy configured it changes nothing.'),
});

const { shape } = endpointSettings;
/** What defines an endpoint: POST /v1/endpoints and the static routes file both take it. */
export const endpointDefinition = endpointSettings.extend({
  eventTypes: shape.eventTypes.default(['*']),
  description: shape.description.default(''),
  // Defaulted by retrySettings: the declared policy is stored as written, and a preset implies a timeout.
  retryPolicy: shape.retryPolicy.optional(),
  timeoutMs: shape.timeoutMs.optional(),
  format: shape.format.default('standard'),
  signature: shape.signature.default({ scheme: 'standard-webhooks' }),
  headers: shape.headers.default({}),
  enabled: shape.enabled.default(true),
  sourceApp: shape.sourceApp.optional(),
  transform: shape.transform.optional(),
  allTenants: shape.allTenants.default(false),
  /** Generated when omitted; null for none (shared-secret, hmac-sha256 and none only). */
  secret: secretField.nullable().optional().describe('generated when omitted; null for none (shared-secret, hmac-sha256 and none send no secret or signature header)'),
  rateLimit: shape.rateLimit.default(null),
  ordering: shape.ordering.default(null),
  onFailure: shape.onFailure.default('block'),
  disableAfter: shape.disableAfter.optional(),
  auth: shape.auth.default(null),
  proxy: shape.proxy.default(true),
  filter: shape.filter.default(null),
  channels: shape.channels.default(null),
  tenant: tenantField,
});

/** Rules across the fields of an endpoint definition. */
export function checkEndpointDefinition(
  body: Pick<z.output<typeof endpointDefinition>, 'secret' | 'signature' | 'format' | 'sourceApp' | 'transform'> & Partial<Pick<z.output<typeof endpointDefinition>, 'headers' | 'auth'>>,
  ctx: z.RefinementCtx,
): void {
  const unfit = body.secret && secretUnfitFor(body.signature.scheme, body.secret);
  if (unfit) ctx.addIssue({ code: 'custom', path: ['secret'], message: unfit });
  if (body.secret === null && !secretOptional(body.signature.scheme)) {
    ctx.addIssue({ code: 'custom', path: ['secret'], message: `signature "${body.signature.scheme}" needs a secret` });
  }
  if (body.sourceApp !== undefined && body.format !== 'make' && !body.transform) ctx.addIssue({ code: 'custom', path: ['sourceApp'], message: onlyMakeSendsSourceApp });
  if (body.transform) for (const problem of transformDefinitionProblems(body.transform, body.signature)) ctx.addIssue({ code: 'custom', ...problem });
  for (const problem of authHeaderProblems(body)) ctx.addIssue({ code: 'custom', ...problem });
}

/** The header `auth` sets (Authorization), set by a static header or the transform as well: one of them would be lost. */
export function authHeaderProblems(endpoint: { auth?: { type: AuthType } | null; headers?: Record<string, string>; transform?: TransformDefinition | null }): { path: string[]; message: string }[] {
  const header = authHeaderOf(endpoint.auth);
  if (!header) return [];
  const clashing = (where: string, names: string[]) => names.filter((name) => name.toLowerCase() === header).map((name) => ({ path: [where, name], message: `set by auth (${endpoint.auth!.type}); remove one of them` }));
  return [...clashing('headers', Object.keys(endpoint.headers ?? {})), ...clashing('transform', Object.keys(endpoint.transform?.headers ?? {})).map((p) => ({ ...p, path: ['transform', 'headers', ...p.path.slice(1)] }))];
}

/**
 * Headers a transform may not set, each with its path under `transform`. Its expressions are
 * compiled on a sandbox thread (assertTransformRuns, buildRequest): compiling tenant text can take
 * seconds (a 5,000-step path took 1.5 s).
 */
export function transformDefinitionProblems(transform: TransformDefinition, signature: SignatureConfig): { path: string[]; message: string }[] {
  const forbidden = protectedHeaders(signature);
  return Object.keys(transform.headers ?? {})
    .filter((name) => forbidden.has(name.toLowerCase()))
    .map((name) => ({ path: ['transform', 'headers', name], message: 'set by Herald (deduplication id, secret, signature) or frames the request, as for static headers; it cannot be chosen' }));
}

/** Syntax errors and regexes, for configuration read once at start (the API compiles on a sandbox thread). */
export function transformSyntaxProblems(transform: TransformDefinition): { path: string[]; message: string }[] {
  try {
    compileTransform(transform);
    return [];
  } catch (err) {
    if (!(err instanceof TransformError)) throw err;
    return [{ path: err.field.split('.'), message: err.explanation }];
  }
}

/** The policy as declared (durations as written, which is how it is stored) and the timeout it implies. */
export function retrySettings(declared: RetryPolicy | undefined, timeoutMs: number | undefined): { retryPolicy: RetryPolicy; timeoutMs: number } {
  const retryPolicy = declared ?? 'standard';
  return { retryPolicy, timeoutMs: timeoutMs ?? compileRetryPolicy(retryPolicy).presetTimeoutMs ?? DEFAULT_TIMEOUT_MS };
}

