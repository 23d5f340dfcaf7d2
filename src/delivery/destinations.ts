import dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { type EgressProxy, tunnelConnector } from './egressProxy.ts';

/** Address ranges a delivery may not reach unless HERALD_ALLOW_PRIVATE_TARGETS is on, by what they are. */
const forbiddenRanges: [kind: string, network: string, prefix: number][] = [
  ['unspecified', '0.0.0.0', 8],
  ['private', '10.0.0.0', 8],
  ['carrier-grade NAT', '100.64.0.0', 10],
  ['loopback', '127.0.0.0', 8],
  ['link-local', '169.254.0.0', 16],
  ['private', '172.16.0.0', 12],
  // IETF protocol assignments; 192.0.0.192 is Oracle Cloud's metadata service.
  ['reserved', '192.0.0.0', 24],
  ['documentation', '192.0.2.0', 24],
  // The deprecated 6to4 relay anycast: not a receiver anyone runs.
  ['reserved', '192.88.99.0', 24],
  ['private', '192.168.0.0', 16],
  ['benchmarking', '198.18.0.0', 15],
  ['documentation', '198.51.100.0', 24],
  ['documentation', '203.0.113.0', 24],
  // Azure's wire server (instance metadata and agent traffic) sits on a public-looking address.
  ['cloud metadata', '168.63.129.16', 32],
  ['multicast', '224.0.0.0', 4],
  ['reserved', '240.0.0.0', 4],
  ['unspecified', '::', 128],
  ['loopback', '::1', 128],
  ['discard-only', '100::', 64],
  ['benchmarking', '2001:2::', 48],
  ['documentation', '2001:db8::', 32],
  ['documentation', '3fff::', 20],
  // Local-use NAT64 (RFC 8215): translates to the operator's own IPv4 network, and the embedded
  // address may sit at any of RFC 6052's positions, so the whole prefix is refused.
  ['NAT64 local-use', '64:ff9b:1::', 48],
  ['private', 'fc00::', 7],
  ['link-local', 'fe80::', 10],
  ['site-local', 'fec0::', 10],
  ['multicast', 'ff00::', 8],
];

const blockLists = new Map<string, BlockList>();
for (const [kind, network, prefix] of forbiddenRanges) {
  if (!blockLists.has(kind)) blockLists.set(kind, new BlockList());
  blockLists.get(kind)!.addSubnet(network, prefix, isIP(network) === 4 ? 'ipv4' : 'ipv6');
}

/** The eight 16-bit groups of a valid IPv6 address (a zone id dropped, a trailing dotted quad folded in). */
function ipv6Groups(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const groups = (part: string) => (part ? part.split(':').map((group) => parseInt(group, 16)) : []);
  const [head = '', tail] = text.split('::');
  if (tail === undefined) return groups(head);
  const before = groups(head);
  const after = groups(tail);
  return [...before, ...Array<number>(8 - before.length - after.length).fill(0), ...after];
}

/**
 * The IPv4 addresses an IPv6 address carries and that a translator or tunnel may deliver to:
 * IPv4-compatible (::a.b.c.d), IPv4-mapped (::ffff:a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d),
 * NAT64 (64:ff9b::a.b.c.d), 6to4 (2002:AABB:CCDD::) and Teredo (2001:0:<server>:…:<client
 * XOR ffff:ffff>). Each must pass the guard as well as the IPv6 address itself.
 */
function embeddedIPv4(address: string): string[] {
  const g = ipv6Groups(address);
  const ipv4 = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  const zeroUpTo = (end: number) => g.slice(0, end).every((group) => group === 0);
  const embedded: string[] = [];
  if (zeroUpTo(5) && (g[5] === 0 || g[5] === 0xffff)) embedded.push(ipv4(g[6]!, g[7]!));
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) embedded.push(ipv4(g[6]!, g[7]!));
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((group) => group === 0)) embedded.push(ipv4(g[6]!, g[7]!));
  if (g[0] === 0x2002) embedded.push(ipv4(g[1]!, g[2]!));
  if (g[0] === 0x2001 && g[1] === 0) embedded.push(ipv4(g[2]!, g[3]!), ipv4(g[6]! ^ 0xffff, g[7]! ^ 0xffff));
  return embedded;
}

function rangeKind(address: string, family: 'ipv4' | 'ipv6'): string | undefined {
  for (const [kind, list] of blockLists) if (list.check(address, family)) return kind;
  return undefined;
}

/**
 * What kind of forbidden address `address` is ("loopback", "private", …), or undefined when a
 * delivery may reach it. An IPv6 address that embeds an IPv4 address (see embeddedIPv4) is also
 * as forbidden as that IPv4 address.
 */
export function forbiddenAddressKind(address: string): string | undefined {
  const family = isIP(address);
  if (!family) throw new TypeError(`not an IP address: ${address}`);
  if (family === 4) return rangeKind(address, 'ipv4');
  const direct = rangeKind(address, 'ipv6');
  if (direct) return direct;
  for (const ipv4 of embeddedIPv4(address)) {
    const kind = rangeKind(ipv4, 'ipv4');
    if (kind) return `${kind}, embedded in IPv6`;
  }
  return undefined;
}

const allowHint = 'set HERALD_ALLOW_PRIVATE_TARGETS=true to allow';

/**
 * A delivery refused because its destination is a forbidden address; final, not worth a retry.
 * The message never names the address: it reaches tenants (the attempt log, `/test`), and
 * naming what a hostname resolved to would make Herald an oracle for internal DNS.
 */
export class ForbiddenDestinationError extends Error {
  readonly code = 'ERR_HERALD_FORBIDDEN_DESTINATION';
  constructor(readonly address: string, readonly kind: string) {
    super(`destination resolves to a private or reserved address; ${allowHint}`);
    this.name = 'ForbiddenDestinationError';
  }
}

/** The IP literal a URL host names (brackets of IPv6 removed), or undefined for a hostname. */
function ipLiteral(host: string): string | undefined {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return isIP(bare) ? bare : undefined;
}

export interface DestinationPolicy {
  allowPrivateTargets: boolean;
  requireHttps: boolean;
}

/**
 * Why an endpoint URL is refused at create or PATCH, or undefined when it is accepted. Only IP
 * literals are checked here: hostnames resolve differently over time, so deliveries check
 * the addresses they actually connect to (guardedDispatcher).
 */
export function urlRefusal(url: string, policy: DestinationPolicy): string | undefined {
  const parsed = new URL(url);
  if (policy.requireHttps && parsed.protocol !== 'https:') return 'must be an https URL in production';
  const address = ipLiteral(parsed.hostname);
  const kind = address && !policy.allowPrivateTargets ? forbiddenAddressKind(address) : undefined;
  // The address is the caller's own input here, so naming it and its kind tells them nothing new.
  return kind && `destination ${address} is a private or reserved address (${kind}); ${allowHint}`;
}

/** Resolves every address of a name, like `dns.lookup` with `all: true`; tests inject their own. */
export type Resolver = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

/**
 * A DNS lookup that fails with ForbiddenDestinationError when any resolved address is forbidden,
 * so a name that resolves to both a public and a private address cannot be steered to the latter.
 */
export function guardedLookup(resolve: Resolver = dns.lookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      for (const { address } of addresses) {
        const kind = forbiddenAddressKind(address);
        if (kind) return callback(new ForbiddenDestinationError(address, kind), '');
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      callback(null, first.address, first.family);
    });
  };
}

export interface DeliveryDispatcherOptions {
  /** Private targets refused (HERALD_ALLOW_PRIVATE_TARGETS off). */
  guarded: boolean;
  keepAlive: boolean;
  /** An endpoint's mTLS client certificate and key (PEM), presented to the receivers this agent reaches. */
  clientCertificate?: { cert: string; key: string };
  /** HERALD_EGRESS_PROXY: every connection is a CONNECT tunnel through it. */
  proxy?: EgressProxy;
}

/** The address a guarded connection may go to: an IP literal checked, a name resolved and all its addresses checked. */
async function checkedAddress(hostname: string): Promise<string> {
  const literal = ipLiteral(hostname);
  if (literal) {
    const kind = forbiddenAddressKind(literal);
    if (kind) throw new ForbiddenDestinationError(literal, kind);
    return literal;
  }
  return new Promise((resolve, reject) => guardedLookup()(hostname, {}, (err, address) => (err ? reject(err) : resolve(address as string))));
}

/**
 * The HTTP agent deliveries go through. Guarded (private targets not allowed), the check runs
 * when the socket connects, on the addresses actually dialled, so a name that resolved to a
 * public address at create time and to 127.0.0.1 now (DNS rebinding) is still refused.
 * IP literals skip DNS, so the connector checks them itself. Through an egress proxy, the
 * destination is checked the same way before the proxy is asked for a tunnel, and the tunnel
 * names the checked address (egressProxy.ts). Without keep-alive every attempt opens its own
 * connection (undici: pipelining 0).
 */
export function deliveryDispatcher(options: DeliveryDispatcherOptions): Agent {
  const keepAlive = !options.keepAlive && { pipelining: 0 };
  if (options.proxy) {
    const tls = buildConnector({ ...options.clientCertificate });
    const destination = options.guarded ? checkedAddress : async (hostname: string) => ipLiteral(hostname) ?? hostname;
    return new Agent({ ...keepAlive, connect: tunnelConnector(options.proxy, tls, destination) });
  }
  const connect = buildConnector({ lookup: options.guarded ? guardedLookup() : undefined, ...options.clientCertificate });
  return new Agent({
    ...keepAlive,
    connect: (connectOptions, callback) => {
      const address = options.guarded ? ipLiteral(connectOptions.hostname) : undefined;
      const kind = address && forbiddenAddressKind(address);
      if (kind) return callback(new ForbiddenDestinationError(address!, kind), null);
      return connect(connectOptions, callback);
    },
  });
}
