import { Router } from 'express';
import { z } from 'zod';
import { compileRetryPolicy, retryPolicySchema } from '../delivery/retryPolicy.ts';
import { formatNames } from '../formats/index.ts';
import { generateSecret, signatureSchema } from '../signing/index.ts';
import type { EndpointStore } from '../storage/endpoints.ts';
import { eventTypePattern, identifier, tenantField } from './fields.ts';
import { resolveTenant } from './auth.ts';
import { notFound, parse } from './problem.ts';

const DEFAULT_TIMEOUT_MS = 15_000;

/** Headers Herald sets itself; an endpoint's static headers may not replace them. */
const reservedHeaders = /^(host|content-type|content-length|user-agent|connection|transfer-encoding|webhook-.*)$/i;

const createBody = z
  .strictObject({
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
    tenant: tenantField,
  })
  .superRefine((body, ctx) => {
    if (body.secret && body.signature.scheme === 'standard-webhooks' && !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(body.secret)) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'a Standard Webhooks secret is "whsec_" followed by base64' });
    }
  });

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
    const declaredPolicy = req.body.retryPolicy ?? 'standard';
    const secret = body.secret ?? generateSecret();
    const endpoint = await store.create({
      ...body,
      retryPolicy: declaredPolicy,
      timeoutMs: body.timeoutMs ?? compileRetryPolicy(declaredPolicy).presetTimeoutMs ?? DEFAULT_TIMEOUT_MS,
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
