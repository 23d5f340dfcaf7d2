import dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';

/** Address ranges a delivery may not reach unless HERALD_ALLOW_PRIVATE_TARGETS is on, by what they are. */
const forbiddenRanges: [kind: string, network: string, prefix: number][] = [
  ['unspecified', '0.0.0.0', 8],
  ['private', '10.0.0.0', 8],
  ['carrier-grade NAT', '100.64.0.0', 10],
  ['loopback', '127.0.0.0', 8],
  ['link-local', '169.254.0.0', 16],
  ['private', '172.16.0.0', 12],
  ['private', '192.168.0.0', 16],
  ['multicast', '224.0.0.0', 4],
  ['reserved', '240.0.0.0', 4],
  ['unspecified', '::', 128],
  ['loopback', '::1', 128],
  ['private', 'fc00::', 7],
  ['link-local', 'fe80::', 10],
  ['multicast', 'ff00::', 8],
];

const blockLists = new Map<string, BlockList>();
for (const [kind, network, prefix] of forbiddenRanges) {
  if (!blockLists.has(kind)) blockLists.set(kind, new BlockList());
  blockLists.get(kind)!.addSubnet(network, prefix, isIP(network) === 4 ? 'ipv4' : 'ipv6');
}

/**
 * What kind of forbidden address `address` is ("loopback", "private", …), or undefined when a
 * delivery may reach it. IPv4-mapped IPv6 (::ffff:127.0.0.1) counts as its IPv4 address:
 * BlockList matches IPv4 rules against it.
 */
export function forbiddenAddressKind(address: string): string | undefined {
  const family = isIP(address);
  if (!family) throw new TypeError(`not an IP address: ${address}`);
  for (const [kind, list] of blockLists) if (list.check(address, family === 4 ? 'ipv4' : 'ipv6')) return kind;
  return undefined;
}

/** A delivery refused because its destination is a forbidden address; final, not worth a retry. */
export class ForbiddenDestinationError extends Error {
  readonly code = 'ERR_HERALD_FORBIDDEN_DESTINATION';
  constructor(address: string, kind: string) {
    super(`destination ${address} is a private address (${kind}); set HERALD_ALLOW_PRIVATE_TARGETS=true to allow`);
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
  return kind && new ForbiddenDestinationError(address!, kind).message;
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

/**
 * The HTTP agent deliveries go through. Guarded (private targets not allowed), the check runs
 * when the socket connects, on the addresses actually dialled, so a name that resolved to a
 * public address at create time and to 127.0.0.1 now (DNS rebinding) is still refused.
 * IP literals skip DNS, so the connector checks them itself. Without keep-alive every attempt
 * opens its own connection (undici: pipelining 0).
 */
export function deliveryDispatcher(options: { guarded: boolean; keepAlive: boolean }): Agent {
  const connect = buildConnector({ lookup: options.guarded ? guardedLookup() : undefined });
  return new Agent({
    ...(!options.keepAlive && { pipelining: 0 }),
    connect: (connectOptions, callback) => {
      const address = options.guarded ? ipLiteral(connectOptions.hostname) : undefined;
      const kind = address && forbiddenAddressKind(address);
      if (kind) return callback(new ForbiddenDestinationError(address!, kind), null);
      return connect(connectOptions, callback);
    },
  });
}
