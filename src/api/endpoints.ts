import { Router } from 'express';
import { z } from 'zod';
import { compileRetryPolicy, retryPolicySchema, type RetryPolicy } from '../delivery/retryPolicy.ts';
import { formatNames } from '../formats/index.ts';
import { generateSecret, signatureSchema } from '../signing/index.ts';
import type { Endpoint, EndpointStore } from '../storage/endpoints.ts';
import { eventTypePattern, identifier, tenantField } from './fields.ts';
import { resolveTenant } from './auth.ts';
import { notFound, parse, Problem } from './problem.ts';

const DEFAULT_TIMEOUT_MS = 15_000;

/** Headers Herald sets itself; an endpoint's static headers may not replace them. */
const reservedHeaders = /^(host|content-type|content-length|user-agent|connection|transfer-encoding|webhook-.*)$/i;

/** What defines an endpoint: POST /v1/endpoints and the static routes file both take it. */
export const endpointDefinition = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an http or https URL' }),
  eventTypes: z.array(eventTypePattern).min(1).max(100).default(['*']),
  description: z.string().max(500).default(''),
  secret: z.string().min(8).max(256).optional(),
  retryPolicy: retryPolicySchema.optional(),
  timeoutMs: z.number().int().min(100).max(60_000).optional(),
  format: z.enum(formatNames).default('standard'),
  signature: signatureSchema.default({ scheme: 'standard-webhooks' }),
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'an HTTP header name'), z.string().max(1024).regex(/^[^\r\n]*$/, 'no line breaks'))
    .refine((h) => !Object.keys(h).some((name) => reservedHeaders.test(name)), 'may not set content-type, user-agent, host or webhook-* headers')
    .default({}),
  enabled: z.boolean().default(true),
  /** `make` format only: the `source_app` it sends (the order form's SOURCE_APP); the tenant by default. */
  sourceApp: z.string().min(1).max(128).optional(),
  tenant: tenantField,
});

/** Rules across the fields of an endpoint definition. */
export function checkEndpointDefinition(
  body: Pick<z.output<typeof endpointDefinition>, 'secret' | 'signature' | 'format' | 'sourceApp'>,
  ctx: z.RefinementCtx,
): void {
  if (body.secret && body.signature.scheme === 'standard-webhooks' && !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(body.secret)) {
    ctx.addIssue({ code: 'custom', path: ['secret'], message: 'a Standard Webhooks secret is "whsec_" followed by base64' });
  }
  if (body.sourceApp !== undefined && body.format !== 'make') {
    ctx.addIssue({ code: 'custom', path: ['sourceApp'], message: 'only the "make" format sends source_app' });
  }
}

const createBody = endpointDefinition.superRefine(checkEndpointDefinition);

/** The policy as declared (durations as written, which is how it is stored) and the timeout it implies. */
export function retrySettings(declared: RetryPolicy | undefined, timeoutMs: number | undefined): { retryPolicy: RetryPolicy; timeoutMs: number } {
  const retryPolicy = declared ?? 'standard';
  return { retryPolicy, timeoutMs: timeoutMs ?? compileRetryPolicy(retryPolicy).presetTimeoutMs ?? DEFAULT_TIMEOUT_MS };
}

/** Static routes belong to configuration; changing one through the API is a conflict. */
export function assertWritable(endpoint: Endpoint): void {
  if (endpoint.readOnly) {
    throw new Problem(409, 'Conflict', `endpoint ${endpoint.id} is the static route "${endpoint.staticRoute?.name}" from configuration; change it there`);
  }
}

const listQuery = z.strictObject({
  tenant: tenantField,
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: identifier.optional(),
});

const tenantQuery = z.object({ tenant: tenantField });

export function endpointsRouter(store: EndpointStore): Router {
  const router = Router();

  router.post('/v1/endpoints', async (req, res) => {
    const body = parse(createBody, req.body);
    const secret = body.secret ?? generateSecret();
    const endpoint = await store.create({
      ...body,
      ...retrySettings(req.body.retryPolicy, body.timeoutMs),
      tenant: resolveTenant(res, body.tenant),
      secret,
    });
    // The only time the secret is shown in full.
    res.status(201).location(`/v1/endpoints/${endpoint.id}`).json({ ...endpoint, secret });
  });

  router.get('/v1/endpoints', async (req, res) => {
    const query = parse(listQuery, req.query, 'query');
    const page = await store.list(resolveTenant(res, query.tenant), { limit: query.limit, after: query.after });
    res.json({ data: page, nextCursor: page.length === query.limit ? page.at(-1)!.id : null });
  });

  router.get('/v1/endpoints/:id', async (req, res) => {
    const { tenant } = parse(tenantQuery, req.query, 'query');
    const endpoint = await store.get(resolveTenant(res, tenant), req.params.id);
    if (!endpoint) throw notFound(`endpoint ${req.params.id}`);
    res.json(endpoint);
  });

  return router;
}
