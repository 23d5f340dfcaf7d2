import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { type buildConnector, Pool } from 'undici';
import { z } from 'zod';

/** HERALD_EGRESS_PROXY, read: where the proxy listens, and the Proxy-Authorization its credentials make (never logged). */
export interface EgressProxy {
  /** `http://host:port`, without credentials: safe to log. */
  origin: string;
  proxyAuthorization?: string;
}

/** `http://[user:password@]host:port`. Messages never repeat the value: it may carry a password, and configuration errors are printed. */
export const egressProxySetting = z.string().transform((text, ctx): EgressProxy => {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  const problem = !url ? 'is not a URL; expected http://[user:password@]host:port'
    : url.protocol !== 'http:' ? `is a ${url.protocol}// URL; only http:// proxies are supported (the tunnel to the receiver is TLS end to end)`
      : (url.pathname !== '/' || url.search || url.hash) ? 'has a path, query or fragment; expected http://[user:password@]host:port'
        : undefined;
  if (problem) {
    ctx.addIssue({ code: 'custom', message: problem });
    return z.NEVER;
  }
  const credentials = url!.username || url!.password ? `${decodeURIComponent(url!.username)}:${decodeURIComponent(url!.password)}` : undefined;
  return { origin: url!.origin, ...(credentials && { proxyAuthorization: `Basic ${Buffer.from(credentials).toString('base64')}` }) };
});

/**
 * The proxy failed the attempt, not the receiver: Herald could not reach it, it refused the CONNECT
 * (a non-2xx, 407 among them), or it broke off. Retried like a connection failure; never counted
 * against the endpoint (its circuit, auto-disable). The message names neither the credentials nor
 * the destination's address.
 */
export class EgressProxyError extends Error {
  readonly code = 'ERR_HERALD_EGRESS_PROXY';
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`proxy: ${reason}`, options);
    this.name = 'EgressProxyError';
  }
}

type Connector = ReturnType<typeof buildConnector>;
type ConnectOptions = Parameters<Connector>[0];
/** The address to ask the proxy for: the destination's checked address when guarded, its name otherwise. */
export type DestinationAddress = (hostname: string) => Promise<string>;

const defaultPort = (protocol: string) => (protocol === 'https:' ? '443' : '80');
/** Longest a proxy may take to answer a CONNECT: an attempt's own deadline (at most 60 s) ends it sooner. */
const CONNECT_ANSWER_TIMEOUT_MS = 60_000;

/**
 * A connector for undici's Agent that reaches each destination through a CONNECT tunnel. The
 * destination is resolved and checked here, before the proxy hears of it, and the CONNECT names
 * the checked address, so the proxy cannot resolve the name to somewhere else: it is no way
 * round the destination guard. TLS then runs inside the tunnel with the receiver's name (SNI and
 * certificate check against the name, as without a proxy). `tls` connects the tunnel's socket
 * (undici's connector, with the endpoint's client certificate if any).
 *
 * Not undici's ProxyAgent: it sends the hostname in the CONNECT (the proxy resolves it, past the
 * guard) with no hook to substitute a checked address, and its failures are undici's generic
 * errors, which cannot be told apart from the receiver's.
 */
export function tunnelConnector(proxy: EgressProxy, tls: Connector, destinationAddress: DestinationAddress): Connector {
  // Every connection of this pool becomes a tunnel and leaves it: it holds no idle socket, so needs no closing.
  const proxyPool = new Pool(proxy.origin, { headersTimeout: CONNECT_ANSWER_TIMEOUT_MS });
  const connect: Connector = (options: ConnectOptions, callback) => {
    void open(options).then((socket) => {
      if (options.protocol !== 'https:') return callback(null, socket);
      tls({ ...options, httpSocket: socket }, callback);
    }, (err: Error) => callback(err, null));
  };
  async function open(options: ConnectOptions): Promise<Socket> {
    const address = await destinationAddress(options.hostname);
    const target = `${isIP(address) === 6 ? `[${address}]` : address}:${options.port || defaultPort(options.protocol)}`;
    let answer;
    try {
      answer = await proxyPool.connect({
        path: target,
        headers: { host: target, ...(proxy.proxyAuthorization && { 'proxy-authorization': proxy.proxyAuthorization }) },
      });
    } catch (err) {
      throw new EgressProxyError(reasonOf(err), { cause: err });
    }
    const { statusCode, socket } = answer;
    if (statusCode >= 200 && statusCode < 300) return socket as Socket;
    socket.destroy();
    throw new EgressProxyError(statusCode === 407 ? 'authentication failed (HTTP 407)' : `refused the tunnel (HTTP ${statusCode})`);
  }
  return connect;
}

function reasonOf(err: unknown): string {
  // With several addresses tried, the socket errors come as an AggregateError.
  const first = (err instanceof AggregateError ? err.errors[0] : err) as { code?: string; message?: string } | undefined;
  if (first?.code && first.message && !first.message.includes(first.code)) return `${first.code}: ${first.message}`;
  return first?.message ?? String(err);
}
