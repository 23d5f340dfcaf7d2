import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { CapturedLog } from '../support/capturedLog.ts';
import { ConnectProxy } from '../../ops/connectProxy.ts';
import { eventually } from '../support/eventually.ts';
import { waitForDeliveryStatus } from '../support/herald.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

// The guard is off here (the receiver is on loopback); destinations.test.ts runs the guarded path through a proxy.
const PROXY_PASSWORD = 'proxy-password-never-shown-9d2e';
const proxy = await ConnectProxy.start(`egress:${PROXY_PASSWORD}`);
const log = new CapturedLog();
const { herald, receiver, createEndpoint, stop } = await startHeraldWithReceiver(
  { LOG_LEVEL: 'debug', HERALD_EGRESS_PROXY: proxy.url(), HERALD_CIRCUIT_FAILURES: '2' },
  { logDestination: log },
);
after(async () => {
  await stop();
  await proxy.stop();
});

const post = (tenant: string, id: string) => herald.api('POST', '/v1/events', { tenant, id, type: 'order.paid', data: { id } }).then((r) => assert.equal(r.status, 202, JSON.stringify(r.body)));
const receiverTarget = () => `127.0.0.1:${new URL(receiver.script('/x')).port}`;

describe('HERALD_EGRESS_PROXY', () => {
  test('every delivery goes through the proxy, with its credentials, which appear nowhere a tenant or operator reads', async () => {
    const before = proxy.connects.length;
    const endpoint = await createEndpoint({ path: '/proxied', tenant: 'proxied', retryPolicy: 'none' });
    assert.equal(endpoint.proxy, true);
    for (const id of ['a', 'b', 'c']) await post('proxied', id);
    const delivered = await Promise.all(['a', 'b', 'c'].map((id) => waitForDeliveryStatus(herald, `delivery:proxied:${id}:${endpoint.id}`, 'delivered')));
    assert.equal(receiver.received('/proxied').length, 3);
    const connects = proxy.connects.slice(before);
    assert.ok(connects.length >= 1, 'at least one tunnel (kept alive for the next deliveries)');
    for (const connect of connects) {
      assert.equal(connect.target, receiverTarget());
      assert.equal(connect.proxyAuthorization, `Basic ${Buffer.from(`egress:${PROXY_PASSWORD}`).toString('base64')}`);
    }
    // Neither the receiver, the attempt log's request as sent, the endpoint, nor a log line carries the proxy's credentials.
    const encoded = Buffer.from(`egress:${PROXY_PASSWORD}`).toString('base64');
    for (const request of receiver.received('/proxied')) assert.equal(request.headers['proxy-authorization'], undefined);
    const read = JSON.stringify([delivered, (await herald.api('GET', `/v1/endpoints/${endpoint.id}?tenant=proxied`)).body]);
    for (const secret of [PROXY_PASSWORD, encoded]) {
      assert.ok(!read.includes(secret));
      assert.ok(!log.lines.some((line) => line.includes(secret)), 'no log line names the proxy credentials');
    }
  });

  test('an endpoint with proxy: false goes straight to the receiver', async () => {
    const before = proxy.connects.length;
    const endpoint = await createEndpoint({ path: '/direct', tenant: 'direct', retryPolicy: 'none', proxy: false });
    assert.equal(endpoint.proxy, false);
    await post('direct', 'a');
    await waitForDeliveryStatus(herald, `delivery:direct:a:${endpoint.id}`, 'delivered');
    assert.equal(receiver.received('/direct').length, 1);
    assert.deepEqual(proxy.connects.slice(before), []);
  });

  test('a one-off test send goes through the proxy too, and straight to the receiver with proxy: false', async () => {
    const before = proxy.connects.length;
    const proxied = await herald.api('POST', '/v1/endpoints/test-send', { url: receiver.script('/test-send-proxied') });
    assert.equal(proxied.body.success, true, JSON.stringify(proxied.body));
    assert.deepEqual(proxy.connects.slice(before).map((c) => c.target), [receiverTarget()]);
    const direct = await herald.api('POST', '/v1/endpoints/test-send', { url: receiver.script('/test-send-direct'), proxy: false });
    assert.equal(direct.body.success, true, JSON.stringify(direct.body));
    assert.equal(proxy.connects.length, before + 1, 'no tunnel for proxy: false');
    assert.equal(receiver.received('/test-send-direct').length, 1);
  });

  test('the proxy down: the attempts fail as "proxy: …" and are retried, the endpoint\'s circuit stays closed and its health untouched', async () => {
    const endpoint = await createEndpoint({ path: '/behind-down-proxy', tenant: 'proxy-down', retryPolicy: { schedule: ['1s', '1s', '1s'] } });
    await proxy.stop();
    try {
      await post('proxy-down', 'a');
      const failed = await waitForDeliveryStatus(herald, `delivery:proxy-down:a:${endpoint.id}`, 'failed');
      // Four attempts, twice HERALD_CIRCUIT_FAILURES: had they counted, the circuit would have opened after two.
      assert.equal(failed.attempts.length, 4);
      for (const attempt of failed.attempts) {
        assert.equal(attempt.statusCode, null);
        assert.match(attempt.error ?? '', /^proxy: .*ECONNREFUSED/);
      }
      const read = (await herald.api('GET', `/v1/endpoints/${endpoint.id}?tenant=proxy-down`)).body;
      assert.equal(read.enabled, true);
      assert.equal(read.health.state, 'healthy');
      assert.equal(read.health.consecutiveFailures, 0);
      assert.deepEqual(receiver.received('/behind-down-proxy'), []);
    } finally {
      await proxy.listen();
    }
    // Back up: the next event goes through it.
    await post('proxy-down', 'b');
    await eventually(async () => receiver.received('/behind-down-proxy').length, (n) => n === 1);
  });

});
