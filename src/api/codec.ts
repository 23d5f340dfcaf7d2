/**
 * Temporal's remote codec protocol, so the Web UI and `temporal … --codec-endpoint` can show
 * encrypted histories decrypted to people holding the admin key: `POST /codec/decode` and
 * `POST /codec/encode`, each taking and answering `{ payloads }` as proto3 JSON (bytes base64).
 */
import type { Payload } from '@temporalio/common';
import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import type { PayloadKey } from '../keys.ts';
import { EncryptionCodec, PayloadDecryptionError } from '../temporal/payloadCodec.ts';
import { requireAdmin } from './auth.ts';
import type { RouteDescription } from './route.ts';
import { invalidFields, parse, Problem } from './problem.ts';

const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');

// Not strict: a payload's proto JSON may carry fields Herald has no use for (externalPayloads).
const jsonPayload = z.object({
  metadata: z.record(z.string(), base64).nullish(),
  data: base64.nullish(),
});
const codecBody = z.object({ payloads: z.array(jsonPayload) });
type JsonPayload = z.output<typeof jsonPayload>;

const fromJson = ({ metadata, data }: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')])),
  data: Buffer.from(data ?? '', 'base64'),
});

const toJson = ({ metadata, data }: Payload) => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
  data: Buffer.from(data ?? []).toString('base64'),
});

const directions = ['decode', 'encode'] as const;

export const codecRoutes: RouteDescription[] = directions.map((direction) => ({
  method: 'post',
  path: `/codec/${direction}`,
  summary: direction === 'decode'
    ? 'Decrypt payloads (Temporal remote codec protocol, for the Web UI and the CLI); admin key only'
    : 'Encrypt payloads with the current payload key (Temporal remote codec protocol); admin key only',
  body: codecBody,
  responses: { 200: `{ payloads }, each ${direction}d`, 403: 'a tenant key: only the admin key may use the codec' },
}));

const allowedHeaders = 'Authorization, Content-Type, X-Namespace';

/**
 * CORS for the Web UI, which calls the codec from its own origin. Mounted ahead of
 * authentication: browsers send the preflight without credentials. Other origins get no
 * CORS headers, so browsers keep their pages from reading the answers.
 */
export function codecCors(allowedOrigins: readonly string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  return (req, res, next) => {
    const origin = req.get('origin');
    const permitted = origin !== undefined && allowed.has(origin);
    res.vary('Origin');
    if (permitted) res.set({ 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true' });
    if (req.method !== 'OPTIONS') return next();
    if (!permitted) {
      throw new Problem(403, 'Forbidden', `origin ${origin ?? '(none)'} may not call the codec`, [{ field: 'origin', message: 'not in HERALD_CODEC_CORS_ORIGINS' }]);
    }
    res.set({ 'access-control-allow-methods': 'POST', 'access-control-allow-headers': allowedHeaders, 'access-control-max-age': '600' });
    res.status(204).end();
  };
}

/**
 * With no keys configured the codec passes unencrypted payloads through and refuses encrypted
 * ones naming their key id, as a worker would: a UI pointed at it shows what Herald can read.
 */
export function codecRouter(keys: readonly PayloadKey[]): Router {
  const codec = new EncryptionCodec(keys);
  const router = Router();
  // Payloads carry no tenant: a tenant key could read every tenant's events.
  router.use('/codec', requireAdmin('using the payload codec'));
  for (const direction of directions) {
    router.post(`/codec/${direction}`, async (req, res) => {
      const { payloads } = parse(codecBody, req.body);
      const results = await Promise.allSettled(payloads.map((payload) => codec[direction]([fromJson(payload)])));
      const errors = results.flatMap((result, index) => {
        if (result.status === 'fulfilled') return [];
        if (result.reason instanceof PayloadDecryptionError) return [{ field: `payloads.${index}`, message: result.reason.message }];
        throw result.reason;
      });
      if (errors.length) throw invalidFields(errors);
      res.json({ payloads: results.map((result) => toJson((result as PromiseFulfilledResult<Payload[]>).value[0]!)) });
    });
  }
  return router;
}
