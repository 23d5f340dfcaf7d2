import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { deliveryDispatcher } from '../../src/delivery/destinations.ts';
import { egressProxySetting } from '../../src/delivery/egressProxy.ts';
import { send, SendError } from '../../src/delivery/send.ts';
import { ConnectProxy } from '../../ops/connectProxy.ts';

const receiver = http.createServer((_req, res) => res.writeHead(204).end());
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const port = (receiver.address() as AddressInfo).port;
const proxy = await ConnectProxy.start('egress:s3cret-pass');
after(async () => {
  await proxy.stop();
  receiver.close();
});

const post = (url: string, dispatcher: ReturnType<typeof deliveryDispatcher>) => send({ url, headers: {}, body: '{}', timeoutMs: 5000, dispatcher });
const through = (credentials: string, guarded = false) => deliveryDispatcher({ guarded, keepAlive: false, proxy: egressProxySetting.parse(proxy.url(credentials)) });

describe('the egress proxy', () => {
  test('a request goes through a CONNECT tunnel to the destination, with the proxy credentials in the CONNECT only', async () => {
    const before = proxy.connects.length;
    assert.equal((await post(`http://127.0.0.1:${port}/hook`, through('egress:s3cret-pass'))).status, 204);
    assert.deepEqual(proxy.connects.slice(before), [{ target: `127.0.0.1:${port}`, proxyAuthorization: `Basic ${Buffer.from('egress:s3cret-pass').toString('base64')}` }]);
  });

  test('the proxy refusing the credentials (407) is a proxy failure, not a connection failure of the receiver', async () => {
    await assert.rejects(post(`http://127.0.0.1:${port}/hook`, through('egress:wrong')), (err: SendError) =>
      err.kind === 'proxy' && err.message === 'proxy: authentication failed (HTTP 407)');
  });

  test('the proxy unreachable is a proxy failure', async () => {
    const down = deliveryDispatcher({ guarded: false, keepAlive: false, proxy: egressProxySetting.parse('http://127.0.0.1:1') });
    await assert.rejects(post(`http://127.0.0.1:${port}/hook`, down), (err: SendError) => err.kind === 'proxy' && /^proxy: .*ECONNREFUSED/.test(err.message));
  });

  test('guarded, a private destination is refused before the proxy is asked for a tunnel, by name or by address', async () => {
    const before = proxy.connects.length;
    for (const url of [`http://localhost:${port}/hook`, `http://127.0.0.1:${port}/hook`, `http://[::1]:${port}/hook`]) {
      await assert.rejects(post(url, through('egress:s3cret-pass', true)), (err: SendError) => err.kind === 'forbidden', url);
    }
    assert.deepEqual(proxy.connects.slice(before), []);
  });

  test('HERALD_EGRESS_PROXY takes only http://[user:password@]host:port, and its refusal never repeats the password', () => {
    assert.deepEqual(egressProxySetting.parse('http://proxy.internal:3128'), { origin: 'http://proxy.internal:3128' });
    for (const value of ['https://u:hunter2@proxy.internal:3128', 'http://u:hunter2@proxy.internal:3128/path', 'proxy.internal:3128']) {
      assert.throws(() => loadConfig({ HERALD_EGRESS_PROXY: value }), (err: Error) =>
        /HERALD_EGRESS_PROXY: /.test(err.message) && !err.message.includes('hunter2'), value);
    }
  });
});
