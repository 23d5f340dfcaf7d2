import net from 'node:net';

/**
 * Rule 1 of issue 13, closed unless opened on purpose: without an admin key Herald listens on
 * loopback only and answers only requests addressed to a loopback name (a web page that rebinds
 * its own name to 127.0.0.1 still sends that name as `Host`); a listener reachable beyond
 * loopback needs the key.
 */

const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/** Whether `host` (an address or name to bind or to address a request to) can only mean this machine. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  // Browsers resolve *.localhost to loopback themselves (RFC 6761), so no page can rebind those.
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  const family = net.isIP(name);
  return family !== 0 && loopback.check(name, family === 4 ? 'ipv4' : 'ipv6');
}

/** The host part of a `Host` header (`name`, `name:port`, `[v6]:port`); undefined when there is none. */
function hostOfHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(header);
  if (bracketed) return bracketed[1];
  return header.replace(/:\d*$/, '');
}

/** Whether a request's `Host` header names this machine by a loopback name or address. */
export function isLoopbackHostHeader(header: string | undefined): boolean {
  const host = hostOfHeader(header);
  return host !== undefined && isLoopbackHost(host);
}

export const nonLoopbackHostRefusal =
  'without HERALD_API_KEY Herald answers only requests addressed to localhost, 127.0.0.1 or [::1]; set HERALD_API_KEY to serve other names';
