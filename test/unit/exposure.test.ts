import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config.ts';
import { isLoopbackHost, isLoopbackHostHeader } from '../../src/exposure.ts';
import { serveMetrics } from '../../src/metrics/server.ts';
import { rawRequest } from '../support/rawHttp.ts';

const KEY = 'exposure-admin-key-0123456789';
/** The environment as `npm start` sees it with nothing set, plus `env`. */
const configWith = (env: Record<string, string> = {}) => loadConfig(env);

describe('closed unless opened on purpose', () => {
  test('with nothing set Herald binds to 127.0.0.1, checks Host headers and may deliver to private addresses', () => {
    const config = configWith();
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.checkHostHeader, true);
    assert.equal(config.destinations.allowPrivateTargets, true);
  });

  test('a public bind without a key is a configuration error naming HERALD_HOST', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'herald.internal']) {
      assert.throws(() => configWith({ HERALD_HOST: host }), /HERALD_HOST: ".*" is reachable beyond loopback; set HERALD_API_KEY/, host);
    }
  });

  test('loopback binds without a key are fine', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) assert.equal(configWith({ HERALD_HOST: host }).host, host);
  });

  test('with a key Herald binds to every interface, checks no Host header, and guards destinations', () => {
    const config = configWith({ HERALD_API_KEY: KEY });
    assert.equal(config.host, undefined);
    assert.equal(config.checkHostHeader, false);
    assert.equal(config.destinations.allowPrivateTargets, false);
    assert.equal(configWith({ HERALD_API_KEY: KEY, HERALD_HOST: '127.0.0.1' }).destinations.allowPrivateTargets, false, 'a key alone turns the guard on');
  });

  test('HERALD_ALLOW_PRIVATE_TARGETS=true opens the guard, and says so loudly', () => {
    const config = configWith({ HERALD_API_KEY: KEY, HERALD_ALLOW_PRIVATE_TARGETS: 'true' });
    assert.equal(config.destinations.allowPrivateTargets, true);
    assert.ok(config.exposureWarnings.some((w) => /HERALD_ALLOW_PRIVATE_TARGETS=true/.test(w)), config.exposureWarnings.join('\n'));
    assert.ok(!configWith({ HERALD_API_KEY: KEY }).exposureWarnings.length);
    assert.equal(configWith({ HERALD_ALLOW_PRIVATE_TARGETS: 'false' }).destinations.allowPrivateTargets, false);
  });

  test('loopback names and Host headers', () => {
    for (const host of ['localhost', 'LOCALHOST', 'app.localhost', '127.0.0.1', '127.255.0.9', '::1', '[::1]', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(host), host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'localhost.evil.example', 'evil.example', '128.0.0.1', '']) assert.ok(!isLoopbackHost(host), host);
    for (const header of ['localhost:3000', 'localhost', '127.0.0.1:3000', '[::1]:3000', '[::1]']) assert.ok(isLoopbackHostHeader(header), header);
    for (const header of [undefined, '', 'evil.example:3000', 'rebind.evil.example', '[::ffff:a00:1]:80', 'localhost:3000@evil.example']) {
      assert.ok(!isLoopbackHostHeader(header), String(header));
    }
  });
});

describe("a worker-only process's /metrics", () => {
  const http = { requestTimeoutMs: 2_000, shutdownGraceMs: 500 };
  const registry = new Registry();

  test('with a key set it needs the key as a bearer token; /healthz needs none', async () => {
    const server = await serveMetrics(registry, { port: 0, host: '127.0.0.1', apiKey: KEY, http });
    try {
      assert.equal((await fetch(server.url)).status, 401);
      assert.equal((await fetch(server.url, { headers: { authorization: 'Bearer hk_tenant-key' } })).status, 401);
      assert.equal((await fetch(server.url, { headers: { authorization: `Bearer ${KEY}` } })).status, 200);
      assert.equal((await fetch(server.url.replace('/metrics', '/healthz'))).status, 200);
    } finally {
      await server.close();
    }
  });

  test('without a key it answers only requests addressed to a loopback name', async () => {
    const server = await serveMetrics(registry, { port: 0, host: '127.0.0.1', apiKey: undefined, http });
    try {
      assert.equal((await fetch(server.url)).status, 200);
      // fetch() will not send a Host header of our choosing; a raw request does.
      const rebound = await rawRequest(server.url, { method: 'GET', path: '/metrics', headers: [], host: 'rebind.evil.example' });
      assert.equal(rebound.status, 403);
    } finally {
      await server.close();
    }
  });
});
