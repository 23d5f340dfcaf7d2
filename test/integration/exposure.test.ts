import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { buildOpenApiDocument } from '../../src/api/openapi.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { heraldProcess, type HeraldProcess } from '../support/heraldProcess.ts';
import { freePort } from '../support/ports.ts';
import { rawRequest } from '../support/rawHttp.ts';
import { Receiver } from '../support/receiver.ts';

const ADMIN_KEY = 'exposure-admin-key-0123456789';
const REQUEST_TIMEOUT_MS = 2_000;
const SHUTDOWN_GRACE_MS = 1_000;

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A connection that sent `head` and nothing more; resolves `closed` with the time the server closed it. */
function stalledConnection(port: number, head: string) {
  const socket = net.connect(port, '127.0.0.1');
  let answer = '';
  socket.on('data', (chunk: Buffer) => void (answer += chunk.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  socket.write(head);
  return { closed, answer: () => answer, destroy: () => socket.destroy() };
}

describe('npm start with no configuration', () => {
  let herald: HeraldProcess;
  let port: number;
  let sdkMetricsPort: number;
  let receiver: Receiver;
  before(async () => {
    [sdkMetricsPort, receiver] = await Promise.all([freePort(), Receiver.start()]);
    // HERALD_HOST unset, as `npm start` runs it; no key.
    herald = await heraldProcess('all', {
      HERALD_HOST: undefined, HERALD_API_KEY: undefined, HERALD_TEMPORAL_METRICS_PORT: String(sdkMetricsPort),
      HERALD_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS}ms`, HERALD_SHUTDOWN_GRACE: `${SHUTDOWN_GRACE_MS}ms`,
    });
    port = Number(new URL(herald.url).port);
    await herald.start();
  });
  after(async () => {
    await herald?.remove();
    await receiver?.close();
  });

  test('answers on 127.0.0.1 and not on 127.0.0.2, and so does the SDK metrics port', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    assert.equal(await accepts('127.0.0.2', port), false, 'the API is not reachable on another address');
    assert.equal((await fetch(`http://127.0.0.1:${sdkMetricsPort}/metrics`)).status, 200);
    assert.equal(await accepts('127.0.0.2', sdkMetricsPort), false, 'the SDK metrics port is not reachable on another address');
  });

  test('a request addressed to another name (DNS rebinding) is refused with 403 naming the Host header', async () => {
    const rebound = await rawRequest(herald.url, { method: 'GET', path: '/v1/tenants', headers: [], host: `rebind.evil.example:${port}` });
    assert.equal(rebound.status, 403);
    assert.match(rebound.headers['content-type'] ?? '', /^application\/problem\+json/);
    assert.equal(JSON.parse(rebound.body).errors[0].field, 'Host');
    const local = await rawRequest(herald.url, { method: 'GET', path: '/v1/tenants', headers: [], host: `localhost:${port}` });
    assert.equal(local.status, 200);
  });

  test('a client that sends half its headers is answered 408 and disconnected within the request timeout', async () => {
    const started = Date.now();
    const slow = stalledConnection(port, 'GET /v1/endpoints HTTP/1.1\r\nhost: localhost\r\nx-slow: ');
    const closedAt = await slow.closed;
    assert.ok(closedAt - started < REQUEST_TIMEOUT_MS + 2_000, `closed after ${closedAt - started} ms`);
    assert.match(slow.answer(), /^HTTP\/1\.1 408/);
  });

  // Last: it stops the process.
  test('SIGTERM while requests hang (a refused body that never comes, a test call to a silent receiver): Herald closes them and exits promptly', async () => {
    const endpoint = await herald.post('/v1/endpoints', { url: receiver.script('/silent', 'hang'), timeoutMs: 60_000, retryPolicy: 'none' });
    const { id } = await endpoint.json();
    // Answered only when the attempt ends: 60 s from now.
    const testCall = stalledConnection(port, `POST /v1/endpoints/${id}/test HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n`);
    const refused = stalledConnection(port, `POST /v1/events HTTP/1.1\r\nhost: rebind.evil.example\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"type":`);
    await waitFor(() => receiver.requests.some((r) => r.path === '/silent'));
    const signalled = Date.now();
    const code = await herald.stop('SIGTERM');
    const exitMs = Date.now() - signalled;
    assert.equal(code, 0, herald.stderr());
    assert.equal(testCall.answer(), '', 'the hanging call was closed, not answered');
    assert.match(refused.answer(), /^HTTP\/1\.1 403/);
    // The grace period, then the worker, storage and the embedded server stop.
    assert.ok(exitMs < SHUTDOWN_GRACE_MS + 10_000, `exited ${exitMs} ms after SIGTERM`);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('Herald with a key, listening on every interface', () => {
  let herald: TestHerald;
  let tenantKey: string;
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  before(async () => {
    herald = await startTestHerald({ HERALD_API_KEY: ADMIN_KEY, HERALD_HOST: '0.0.0.0' });
    assert.equal((await herald.api('POST', '/v1/tenants', { id: 'acme' }, admin)).status, 201);
    tenantKey = (await herald.api('POST', '/v1/tenants/acme/keys', { name: 'exposure test' }, admin)).body.key;
    assert.match(tenantKey, /^hk_/);
  });
  after(() => herald?.stop());

  test('/metrics needs the admin key: a tenant key gets 403, no key 401', async () => {
    const scrape = (headers: Record<string, string>) => fetch(`${herald.apiUrl}/metrics`, { headers }).then((r) => r.status);
    assert.equal(await scrape({}), 401);
    assert.equal(await scrape({ authorization: `Bearer ${tenantKey}` }), 403);
    assert.equal(await scrape(admin), 200);
  });

  test('the OpenAPI document says /metrics needs the admin key', () => {
    const metrics = buildOpenApiDocument().paths['/metrics']!.get!;
    assert.equal('security' in metrics, false, 'the document-wide bearer requirement applies');
    assert.match(metrics.summary, /admin key only/);
    assert.ok(metrics.responses[401] && metrics.responses[403]);
  });

  test('no tenant (nor the admin) can register a loopback or private destination', async () => {
    for (const url of ['http://127.0.0.1:9/hook', 'http://10.0.0.1/hook', 'http://[::1]/hook', 'http://169.254.169.254/latest/meta-data']) {
      const refused = await herald.api('POST', '/v1/endpoints', { url }, { authorization: `Bearer ${tenantKey}` });
      assert.equal(refused.status, 400, url);
      assert.equal(refused.body.errors[0].field, 'url');
      assert.equal((await herald.api('POST', '/v1/endpoints', { url }, admin)).status, 400, url);
    }
  });

  test('any Host is answered (every request needs the key), and the API listens beyond 127.0.0.1', async () => {
    const port = Number(new URL(herald.apiUrl).port);
    const rebound = await rawRequest(herald.apiUrl, { method: 'GET', path: '/v1/tenants', headers: [['authorization', admin.authorization]], host: 'herald.example' });
    assert.equal(rebound.status, 200);
    assert.equal(await accepts('127.0.0.2', port), true);
  });

  test('the SDK metrics port, which cannot check a key, stays on loopback', async () => {
    const { port } = new URL(herald.temporalMetricsUrl);
    assert.equal((await fetch(herald.temporalMetricsUrl)).status, 200);
    assert.equal(await accepts('127.0.0.2', Number(port)), false);
  });
});
