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
    // Reserved and special-purpose ranges (issue 13).
    ['192.0.0.192', 'reserved'],
    ['192.0.2.10', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.200', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['192.88.99.1', 'reserved'],
    ['168.63.129.16', 'cloud metadata'],
    ['100::1', 'discard-only'],
    ['fec0::1', 'site-local'],
    ['feff::1', 'site-local'],
    ['2001:db8::1', 'documentation'],
    ['2001:2::1', 'benchmarking'],
    ['64:ff9b:1::a00:1', 'NAT64 local-use'],
    ['64:ff9b:1:8:8::', 'NAT64 local-use'],
    // IPv6 forms that carry an IPv4 address a translator or tunnel delivers to (issue 13).
    ['::127.0.0.1', 'loopback, embedded in IPv6'],
    ['::7f00:1', 'loopback, embedded in IPv6'],
    ['::169.254.169.254', 'link-local, embedded in IPv6'],
    ['::ffff:0:7f00:1', 'loopback, embedded in IPv6'],
    ['::ffff:0:10.0.0.1', 'private, embedded in IPv6'],
    ['64:ff9b::127.0.0.1', 'loopback, embedded in IPv6'],
    ['64:ff9b::a9fe:a9fe', 'link-local, embedded in IPv6'],
    ['2002:7f00:1::', 'loopback, embedded in IPv6'],
    ['2002:a00:1:1234::1', 'private, embedded in IPv6'],
    ['2002:c0a8:101::', 'private, embedded in IPv6'],
    // Teredo: server 65.54.227.120, client 127.0.0.1 stored as its bitwise complement.
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback, embedded in IPv6'],
    ['2001:0:4136:e378::f5ff:fffe', 'private, embedded in IPv6'],
    ['fe80::1%eth0', 'link-local'],
  ];
  for (const [address, kind] of forbidden) {
    test(`${address} is refused as ${kind}`, () => assert.equal(forbiddenAddressKind(address), kind));
  }

  const allowed = ['8.8.8.8', '1.1.1.1', '9.255.255.255', '11.0.0.0', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0',
    '192.167.255.255', '192.169.0.0', '169.253.255.255', '223.255.255.255', '198.17.255.255', '198.20.0.0', '168.63.129.17',
    '2606:4700:4700::1111', '2a00:1450:4001:81c::200e', '::ffff:8.8.8.8', '::8.8.8.8', '64:ff9b::808:808', '2002:808:808::1',
    '2001:0:4136:e378:8000:63bf:f7f7:f7f7'];
  for (const address of allowed) {
    test(`${address} is allowed`, () => assert.equal(forbiddenAddressKind(address), undefined));
  }
});

describe('endpoint URLs', () => {
  const closed = { allowPrivateTargets: false, requireHttps: false };
  test('an IP literal in a forbidden range is refused, with the variable that allows it', () => {
    assert.equal(urlRefusal('http://127.0.0.1:8080/hook', closed),
      'destination 127.0.0.1 is a private or reserved address (loopback); set HERALD_ALLOW_PRIVATE_TARGETS=true to allow');
    for (const host of ['[::127.0.0.1]', '[::ffff:0:7f00:1]', '[64:ff9b::7f00:1]', '[64:ff9b:1::7f00:1]', '[2002:7f00:1::]',
      '[2001:0:4136:e378:8000:63bf:80ff:fffe]', '[fec0::1]', '[100::1]', '198.18.0.1', '192.0.0.170', '192.0.2.1', '168.63.129.16']) {
      assert.match(urlRefusal(`http://${host}/hook`, closed) ?? 'accepted', /is a private or reserved address/, host);
    }
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
    for (const resolver of [resolvingTo('127.0.0.1'), resolvingTo('93.184.215.14', '10.0.0.5'), resolvingTo('::ffff:169.254.169.254'),
      resolvingTo('64:ff9b::a9fe:a9fe'), resolvingTo('2002:a00:1::'), resolvingTo('::127.0.0.1')]) {
      const { err } = await lookUp(resolver, true);
      assert.ok(err instanceof ForbiddenDestinationError, String(err));
    }
  });
  test('the refusal does not say which address the name resolved to: tenants read it', async () => {
    const { err } = await lookUp(resolvingTo('93.184.215.14', '10.20.30.40'), true);
    assert.equal(err?.message, 'destination resolves to a private or reserved address; set HERALD_ALLOW_PRIVATE_TARGETS=true to allow');
    assert.doesNotMatch(err?.message ?? '', /10\.20|private address \(/);
  });
});
