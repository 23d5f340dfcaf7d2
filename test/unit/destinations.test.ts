import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { describe, test } from 'node:test';
import { forbiddenAddressKind, ForbiddenDestinationError, guardedLookup, type Resolver, urlRefusal } from '../../src/delivery/destinations.ts';

describe('forbidden destination addresses', () => {
  const forbidden: [address: string, kind: string][] = [
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.254', 'carrier-grade NAT'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['169.254.0.1', 'link-local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['ff02::1', 'multicast'],
    // IPv4-mapped IPv6, dotted and hex: the IPv4 address decides.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['::ffff:172.16.0.1', 'private'],
    ['::ffff:192.168.0.1', 'private'],
    ['::ffff:100.64.0.1', 'carrier-grade NAT'],
    ['::ffff:224.0.0.1', 'multicast'],
    ['::ffff:0.0.0.0', 'unspecified'],
  ];
  for (const [address, kind] of forbidden) {
    test(`${address} is refused as ${kind}`, () => assert.equal(forbiddenAddressKind(address), kind));
  }

  const allowed = ['8.8.8.8', '1.1.1.1', '9.255.255.255', '11.0.0.0', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0',
    '192.167.255.255', '192.169.0.0', '169.253.255.255', '223.255.255.255', '2606:4700:4700::1111', '2001:db8::1', '::ffff:8.8.8.8'];
  for (const address of allowed) {
    test(`${address} is allowed`, () => assert.equal(forbiddenAddressKind(address), undefined));
  }
});

describe('endpoint URLs', () => {
  const closed = { allowPrivateTargets: false, requireHttps: false };
  test('an IP literal in a forbidden range is refused, with the variable that allows it', () => {
    assert.equal(urlRefusal('http://127.0.0.1:8080/hook', closed),
      'destination 127.0.0.1 is a private address (loopback); set HERALD_ALLOW_PRIVATE_TARGETS=true to allow');
    assert.match(urlRefusal('http://[::ffff:127.0.0.1]/hook', closed)!, /loopback/);
    assert.match(urlRefusal('http://[fe80::1]/hook', closed)!, /link-local/);
    assert.match(urlRefusal('http://169.254.169.254/latest/meta-data', closed)!, /link-local/);
  });
  test('the URL parser normalises other spellings of an IPv4 address before the check', () => {
    for (const url of ['http://2130706433/', 'http://0x7f.1/', 'http://017700000001/', 'http://127.1/']) {
      assert.match(urlRefusal(url, closed)!, /127\.0\.0\.1 .*loopback/, url);
    }
  });
  test('hostnames are accepted: they are checked on every delivery, after resolution', () => {
    assert.equal(urlRefusal('http://localhost:8080/hook', closed), undefined);
  });
  test('with private targets allowed, any address is accepted', () => {
    assert.equal(urlRefusal('http://127.0.0.1/hook', { allowPrivateTargets: true, requireHttps: false }), undefined);
  });
  test('production requires https', () => {
    const production = { allowPrivateTargets: true, requireHttps: true };
    assert.equal(urlRefusal('http://example.com/hook', production), 'must be an https URL in production');
    assert.equal(urlRefusal('https://example.com/hook', production), undefined);
  });
});

describe('the guarded DNS lookup', () => {
  const resolvingTo = (...addresses: string[]): Resolver => (_host, _options, callback) =>
    callback(null, addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })));
  const lookUp = (resolver: Resolver, all: boolean) =>
    new Promise<{ err: Error | null; address: unknown }>((resolve) =>
      guardedLookup(resolver)('hooks.example', { all }, (err, address) => resolve({ err, address })));

  test('a name that resolves only to public addresses resolves as usual', async () => {
    assert.deepEqual(await lookUp(resolvingTo('93.184.215.14'), false), { err: null, address: '93.184.215.14' });
    const all = await lookUp(resolvingTo('93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'), true);
    assert.equal((all.address as LookupAddress[]).length, 2);
  });
  test('a name with any forbidden address is refused, whichever comes first', async () => {
    for (const resolver of [resolvingTo('127.0.0.1'), resolvingTo('93.184.215.14', '10.0.0.5'), resolvingTo('::ffff:169.254.169.254')]) {
      const { err } = await lookUp(resolver, true);
      assert.ok(err instanceof ForbiddenDestinationError, String(err));
    }
  });
});
