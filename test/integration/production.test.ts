import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { startTestHerald, type TestHerald } from '../support/herald.ts';

const ADMIN_KEY = 'production-admin-key-0123456789';
const MAX_BODY_BYTES = 4096;

describe('Herald with NODE_ENV=production', () => {
  let herald: TestHerald;
  const logLines: string[] = [];
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  before(async () => {
    const logTo = new Writable({
      write(chunk, _encoding, done) {
        logLines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    herald = await startTestHerald(
      { NODE_ENV: 'production', HERALD_API_KEY: ADMIN_KEY, HERALD_ALLOW_PRIVATE_TARGETS: 'true', HERALD_MAX_BODY_BYTES: String(MAX_BODY_BYTES), LOG_LEVEL: 'info' },
      { logDestination: logTo },
    );
  });
  after(() => herald?.stop());

  test('every route but /healthz and /readyz needs a key', async () => {
    assert.equal((await herald.api('GET', '/healthz')).status, 200);
    assert.equal((await herald.api('GET', '/readyz')).status, 200);
    const routes: [string, string][] = [
      ['GET', '/v1/endpoints'], ['POST', '/v1/endpoints'], ['GET', '/v1/endpoints/ep_x'], ['PATCH', '/v1/endpoints/ep_x'],
      ['DELETE', '/v1/endpoints/ep_x'], ['POST', '/v1/endpoints/ep_x/rotate-secret'], ['POST', '/v1/endpoints/ep_x/test'],
      ['POST', '/v1/endpoints/ep_x/recover'], ['POST', '/v1/events'], ['GET', '/v1/events/evt_x'], ['GET', '/v1/deliveries'],
      ['GET', '/v1/deliveries/delivery:a:b:c'], ['POST', '/v1/deliveries/delivery:a:b:c/replay'], ['GET', '/v1/tenants'],
      ['POST', '/v1/tenants'], ['GET', '/v1/event-types'], ['POST', '/v1/event-types'], ['GET', '/metrics'], ['POST', '/codec/decode'],
      ['POST', '/codec/encode'], ['GET', '/anything-else'],
    ];
    for (const [method, route] of routes) {
      const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer not-the-key-at-all' }, { authorization: 'Bearer hk_unknown' }];
      for (const headers of attempts) {
        const refused = await herald.api(method, route, method === 'GET' || method === 'DELETE' ? undefined : {}, headers);
        assert.equal(refused.status, 401, `${method} ${route} ${JSON.stringify(headers)}`);
        assert.match(refused.headers.get('content-type')!, /^application\/problem\+json/);
        assert.equal(refused.headers.get('www-authenticate'), 'Bearer');
      }
    }
    assert.equal((await herald.api('GET', '/v1/endpoints', undefined, admin)).status, 200);
  });

  test('a failed authentication is logged as a warning with method, path and address, never the key', async () => {
    const wrongKey = 'Bearer wrong-key-that-must-not-be-logged';
    await herald.api('GET', '/v1/endpoints?tenant=acme', undefined, { authorization: wrongKey });
    const warnings = logLines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'authentication failed');
    const logged = warnings.find((entry) => entry.reason === 'wrong key' && entry.path === '/v1/endpoints');
    assert.ok(logged, JSON.stringify(warnings.slice(-3)));
    assert.equal(logged.level, 40);
    assert.equal(logged.method, 'GET');
    assert.match(logged.ip, /127\.0\.0\.1/);
    const everything = logLines.join('\n');
    assert.ok(!everything.includes('wrong-key-that-must-not-be-logged'));
    assert.ok(!everything.includes(ADMIN_KEY));
  });

  test('endpoint URLs must be https', async () => {
    const refused = await herald.api('POST', '/v1/endpoints', { url: 'http://hooks.example/in' }, admin);
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body.errors, [{ field: 'url', message: 'must be an https URL in production' }]);
    const created = await herald.api('POST', '/v1/endpoints', { url: 'https://hooks.example/in' }, admin);
    assert.equal(created.status, 201);
    const patched = await herald.api('PATCH', `/v1/endpoints/${created.body.id}`, { url: 'http://hooks.example/in' }, admin);
    assert.equal(patched.status, 400);
    assert.deepEqual(patched.body.errors.map((e: { field: string }) => e.field), ['url']);
  });

  test('a body over HERALD_MAX_BODY_BYTES is refused with 413 problem+json; one under it is read', async () => {
    const event = (padding: number) => ({ type: 'order.submitted', data: { padding: 'x'.repeat(padding) } });
    const overhead = JSON.stringify(event(0)).length;
    const tooLarge = await herald.api('POST', '/v1/events', event(MAX_BODY_BYTES - overhead + 1), admin);
    assert.equal(tooLarge.status, 413);
    assert.match(tooLarge.headers.get('content-type')!, /^application\/problem\+json/);
    assert.equal(tooLarge.body.detail, `body exceeds ${MAX_BODY_BYTES} bytes (HERALD_MAX_BODY_BYTES)`);
    assert.equal((await herald.api('POST', '/v1/events', event(MAX_BODY_BYTES - overhead), admin)).status, 202);
  });
});
