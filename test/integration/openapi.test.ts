import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Client, Connection } from '@temporalio/client';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import type { Express } from 'express';
import { createApp } from '../../src/api/app.ts';
import { loadConfig } from '../../src/config.ts';
import { buildOpenApiDocument, openApiPath } from '../../src/api/openapi.ts';
import { EventCatalog } from '../../src/eventCatalog.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics/index.ts';
import type { Db } from '../../src/storage/db.ts';
import { DeliveryLog } from '../../src/storage/deliveryLog.ts';
import { AuditLog } from '../../src/storage/auditLog.ts';
import { EndpointStore } from '../../src/endpoints/store.ts';
import { HeraldTemporal } from '../../src/temporal/heraldTemporal.ts';
import { EventTypeStore } from '../../src/storage/eventTypes.ts';
import { TenantDeletions } from '../../src/storage/tenantDeletions.ts';
import { TenantStore } from '../../src/storage/tenants.ts';
import { PortalSessionStore } from '../../src/portal/sessions.ts';
import { openTestMemoryDb } from '../support/suiteSetup.ts';

const API_KEY = 'openapi-test-admin-key';
let db: Db;
let app: Express;

before(async () => {
  db = await openTestMemoryDb();
  // Nothing here reaches Temporal; a lazy connection to nowhere keeps the client real.
  const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
  app = createApp({
    temporal: new HeraldTemporal(client, { taskQueue: 'herald', deadLetterRetentionMs: 86_400_000 }),
    db,
    endpoints: new EndpointStore(db),
    log: new DeliveryLog(db),
    audit: new AuditLog(db),
    tenants: new TenantStore(db),
    deletions: new TenantDeletions(db),
    portalSessions: new PortalSessionStore(db),
    publicUrl: undefined,
    temporalWebUi: { url: 'http://localhost:8233', namespace: 'default' },
    catalog: new EventCatalog(new EventTypeStore(db), { strict: false }),
    apiKey: API_KEY,
    checkHostHeader: false,
    quotas: loadConfig({}).quotas,
    logger: createLogger('silent'),
    metrics: createMetrics(),
    destinations: { allowPrivateTargets: true, requireHttps: false },
    maxBodyBytes: 1_048_576,
    payloadKeys: [],
    codecCorsOrigins: [],
  });
});

after(() => db.close());

interface StackLayer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: StackLayer[] };
  slash: boolean;
  rawPath?: string;
}

/** `METHOD /path` for each route registered on the app, nested routers included, in OpenAPI path form. */
function servedRoutes(stack: StackLayer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      return Object.keys(layer.route.methods).map((method) => `${method.toUpperCase()} ${openApiPath(prefix + layer.route!.path)}`);
    }
    // A router mounted at `/` (layer.slash) adds nothing to its routes' paths.
    if (layer.handle.stack) return servedRoutes(layer.handle.stack, prefix + (layer.slash ? '' : (layer.rawPath ?? '')));
    return [];
  });
}

test('every route the app serves is in the OpenAPI document, and nothing else is', () => {
  const served = servedRoutes((app as unknown as { router: { stack: StackLayer[] } }).router.stack).sort();
  const documented = Object.entries(buildOpenApiDocument().paths)
    .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
  assert.ok(served.includes('POST /v1/endpoints') && served.includes('GET /metrics'), 'the walk found the routers and the app-level routes');
  assert.deepEqual(
    { servedButUndocumented: served.filter((r) => !documented.includes(r)), documentedButNotServed: documented.filter((r) => !served.includes(r)) },
    { servedButUndocumented: [], documentedButNotServed: [] },
  );
});

test('the document is valid OpenAPI 3.1 with the bearer scheme and the problem schema', async () => {
  const document = buildOpenApiDocument();
  const result = await new Validator().validate(structuredClone(document));
  assert.deepEqual(result.errors, undefined);
  assert.equal(result.valid, true);
  assert.equal(document.openapi, '3.1.0');
  const { bearer } = document.components.securitySchemes;
  assert.equal(bearer.type, 'http');
  assert.equal(bearer.scheme, 'bearer');
  assert.deepEqual(document.components.schemas.Problem.required, ['type', 'title', 'status']);
  assert.deepEqual(document.paths['/healthz']?.get?.security, []);
  assert.equal(document.paths['/v1/endpoints']?.post?.security, undefined, 'keyed routes take the document-wide bearer requirement');
});

test('a request body schema in the document accepts and rejects what the API does', async () => {
  const operation = buildOpenApiDocument().paths['/v1/endpoints']!.post!;
  const schema = operation.requestBody!.content['application/json'].schema;
  const ajv = new Ajv2020({ strict: false });
  ajvFormats.default(ajv);
  const validate = ajv.compile(schema);
  const withoutUrl = { eventTypes: ['order.*'] };
  const withUrl = { url: 'https://receiver.example/hooks', eventTypes: ['order.*'] };
  assert.equal(validate(withoutUrl), false);
  assert.ok(validate.errors?.some((e) => e.keyword === 'required' && e.params.missingProperty === 'url'));
  assert.equal(validate(withUrl), true);
  assert.equal(validate({ ...withUrl, colour: 'blue' }), false, 'unknown fields are refused, as the strict zod object does');

  // The API itself agrees: only the url makes the difference between a 400 and a 201.
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const post = (body: unknown) =>
      fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/endpoints`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify(body),
      });
    const refused = await post(withoutUrl);
    assert.equal(refused.status, 400);
    assert.ok((await refused.json()).errors.some((e: { field: string }) => e.field === 'url'));
    assert.equal((await post(withUrl)).status, 201);
  } finally {
    server.close();
  }
});

test('GET /v1/openapi.json answers without a key when HERALD_API_KEY is set', async () => {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    assert.equal((await fetch(`${base}/v1/endpoints`)).status, 401, 'the key is required elsewhere');
    const response = await fetch(`${base}/v1/openapi.json`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await response.json(), buildOpenApiDocument());
  } finally {
    server.close();
  }
});
