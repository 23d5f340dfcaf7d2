import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ConnectProxy } from '../../ops/connectProxy.ts';
import { eventually } from '../support/eventually.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

// Deliveries go through an egress proxy (endpoints with proxy: false aside): the guard must hold before it, too.
const proxy = await ConnectProxy.start();
const { herald, receiver, stop } = await startHeraldWithReceiver({ HERALD_ALLOW_PRIVATE_TARGETS: 'false', HERALD_EGRESS_PROXY: proxy.url() });
after(async () => {
  await stop();
  await proxy.stop();
});

describe('with HERALD_ALLOW_PRIVATE_TARGETS=false', () => {
  const countEndpoints = async () => (await herald.api('GET', '/v1/endpoints?tenant=ssrf')).body.data.length;

  test('an endpoint URL naming a private IP is refused at create and at PATCH, naming url', async () => {
    for (const url of [receiver.script('/literal'), 'http://[::ffff:127.0.0.1]:9/hook', 'http://169.254.169.254/latest/meta-data',
      'http://[::127.0.0.1]:9/hook', 'http://[64:ff9b::a9fe:a9fe]/latest', 'http://[2002:7f00:1::]/hook', 'http://198.18.0.1/hook']) {
      const refused = await herald.api('POST', '/v1/endpoints', { url, tenant: 'ssrf' });
      assert.equal(refused.status, 400, url);
      assert.match(refused.headers.get('content-type')!, /^application\/problem\+json/);
      assert.deepEqual(refused.body.errors.map((e: { field: string }) => e.field), ['url']);
      assert.match(refused.body.errors[0].message, /is a private or reserved address .*HERALD_ALLOW_PRIVATE_TARGETS=true/);
    }
    assert.equal(await countEndpoints(), 0);

    const created = await herald.api('POST', '/v1/endpoints', { url: 'https://hooks.example/in', tenant: 'ssrf' });
    assert.equal(created.status, 201);
    const patched = await herald.api('PATCH', `/v1/endpoints/${created.body.id}?tenant=ssrf`, { url: 'http://10.0.0.7/in' });
    assert.equal(patched.status, 400);
    assert.deepEqual(patched.body.errors.map((e: { field: string }) => e.field), ['url']);
    assert.equal((await herald.api('GET', `/v1/endpoints/${created.body.id}?tenant=ssrf`)).body.url, 'https://hooks.example/in');
    await herald.api('DELETE', `/v1/endpoints/${created.body.id}?tenant=ssrf`);
  });

  test('a hostname that resolves to 127.0.0.1 is accepted, but its delivery fails at connect and is not retried', async () => {
    const path = '/via-localhost';
    const url = receiver.script(path).replace('127.0.0.1', 'localhost');
    // A schedule that would retry a connection error: the refusal must be final instead.
    const created = await herald.api('POST', '/v1/endpoints', { url, tenant: 'rebind', retryPolicy: { schedule: ['1s', '1s'] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    const ingested = await herald.api('POST', '/v1/events', { id: 'evt-local', type: 'order.submitted', tenant: 'rebind' });
    assert.equal(ingested.status, 202);
    const deliveryId = `delivery:rebind:evt-local:${created.body.id}`;
    const failed = await eventually(
      async () => (await herald.api('GET', `/v1/deliveries/${deliveryId}`)).body,
      (delivery) => delivery?.status === 'failed',
    );
    assert.equal(failed.attempts.length, 1);
    assert.equal(failed.attempts[0].statusCode, null);
    // The tenant learns that the name is refused, not what it resolved to.
    assert.equal(failed.attempts[0].error, 'destination resolves to a private or reserved address; set HERALD_ALLOW_PRIVATE_TARGETS=true to allow');
    assert.deepEqual(receiver.received(path), []);
  });

  test('an OAuth2 token URL is under the same guard: a private IP is refused naming auth.tokenUrl, a name resolving to one fails final before any request', async () => {
    const auth = (tokenUrl: string) => ({ type: 'oauth2-client-credentials', tokenUrl, clientId: 'herald', clientSecret: 'token-secret' });
    const refused = await herald.api('POST', '/v1/endpoints', { url: 'https://hooks.example/in', tenant: 'token-ssrf', auth: auth(receiver.script('/token')) });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body.errors.map((e: { field: string }) => e.field), ['auth.tokenUrl']);

    const created = await herald.api('POST', '/v1/endpoints', {
      url: 'https://hooks.example/in', tenant: 'token-ssrf', retryPolicy: { schedule: ['1s', '1s'] }, auth: auth(receiver.script('/token').replace('127.0.0.1', 'localhost')),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await herald.api('POST', '/v1/events', { id: 'evt-token', type: 'order.submitted', tenant: 'token-ssrf' })).status, 202);
    const failed = await eventually(
      async () => (await herald.api('GET', `/v1/deliveries/delivery:token-ssrf:evt-token:${created.body.id}`)).body,
      (delivery) => delivery?.status === 'failed',
    );
    assert.equal(failed.attempts.length, 1);
    assert.equal(failed.attempts[0].error, 'auth: token request failed: destination resolves to a private or reserved address; set HERALD_ALLOW_PRIVATE_TARGETS=true to allow');
    assert.deepEqual(receiver.received('/token'), []);
  });

  test('a one-off test send follows the same rules: a private IP is refused, a name resolving to one fails at connect', async () => {
    const literal = await herald.api('POST', '/v1/endpoints/test-send', { url: receiver.script('/test-send') });
    assert.equal(literal.status, 400);
    assert.deepEqual(literal.body.errors.map((e: { field: string }) => e.field), ['url']);
    const byName = await herald.api('POST', '/v1/endpoints/test-send', { url: receiver.script('/test-send').replace('127.0.0.1', 'localhost') });
    assert.equal(byName.status, 200);
    assert.equal(byName.body.success, false);
    assert.equal(byName.body.statusCode, null);
    assert.match(byName.body.error, /^destination resolves to a private or reserved address/);
    assert.deepEqual(receiver.received('/test-send'), []);
  });

  test('straight to the receiver (proxy: false), a hostname that resolves to 127.0.0.1 is refused the same way', async () => {
    const created = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/direct').replace('127.0.0.1', 'localhost'), tenant: 'rebind-direct', proxy: false });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await herald.api('POST', '/v1/events', { id: 'evt-direct', type: 'order.submitted', tenant: 'rebind-direct' })).status, 202);
    const failed = await eventually(
      async () => (await herald.api('GET', `/v1/deliveries/delivery:rebind-direct:evt-direct:${created.body.id}`)).body,
      (delivery) => delivery?.status === 'failed',
    );
    assert.match(failed.attempts[0].error, /^destination resolves to a private or reserved address/);
    assert.deepEqual(receiver.received('/direct'), []);
  });

  test('through the egress proxy, every refused destination above was refused before the proxy was asked for a tunnel', () => {
    assert.deepEqual(proxy.connects, []);
  });
});
