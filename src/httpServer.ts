import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpSettings {
  /** A client must have sent its whole request within this; Node answers 408 and disconnects slower ones. */
  requestTimeoutMs: number;
  /** At close, requests still under way get this long before their connections are closed. */
  shutdownGraceMs: number;
}

export interface ListeningServer {
  server: http.Server;
  port: number;
  /** Stops accepting, lets requests under way finish for the grace period, then closes every connection left. */
  close(): Promise<void>;
}

/** Idle keep-alive connections are closed after this (Node's default too, stated so the timeouts read together). */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/**
 * An HTTP server that drops slow clients within seconds (slowloris) and whose close cannot hang:
 * Node checks its request timeouts only every `connectionsCheckingInterval` (30 s by default),
 * and `server.close()` waits for every open connection, one whose request body never arrives
 * included.
 */
export async function listen(
  handler: http.RequestListener,
  address: { port: number; host?: string },
  settings: HttpSettings,
): Promise<ListeningServer> {
  const server = http.createServer({
    requestTimeout: settings.requestTimeoutMs,
    headersTimeout: settings.requestTimeoutMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    connectionsCheckingInterval: Math.min(1_000, settings.requestTimeoutMs),
  }, handler);
  server.listen(address.port, address.host);
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      const deadline = setTimeout(() => server.closeAllConnections(), settings.shutdownGraceMs);
      server.close(() => {
        clearTimeout(deadline);
        resolve();
      });
      server.closeIdleConnections();
    }),
  };
}
