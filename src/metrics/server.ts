import crypto from 'node:crypto';
import type http from 'node:http';
import type { Registry } from 'prom-client';
import { isLoopbackHostHeader, nonLoopbackHostRefusal } from '../exposure.ts';
import { type HttpSettings, listen } from '../httpServer.ts';

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest();

function answer(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(`${text}\n`);
}

/**
 * `GET /metrics` for a process that runs no API (a worker-only replica), under the API's rule:
 * with `apiKey` set a scrape needs it as a bearer token (metrics name every tenant's event
 * types); without one, only requests addressed to a loopback name are answered. `GET /healthz`
 * needs neither, for container health checks.
 */
export async function serveMetrics(
  registry: Registry,
  options: { port: number; host?: string; apiKey: string | undefined; http: HttpSettings },
): Promise<MetricsServer> {
  const adminDigest = options.apiKey && sha256(options.apiKey);
  const { port, close } = await listen((req, res) => {
    const path = req.url?.split('?')[0];
    if (!adminDigest && !isLoopbackHostHeader(req.headers.host)) return answer(res, 403, nonLoopbackHostRefusal);
    if (req.method === 'GET' && path === '/healthz') return answer(res, 200, 'ok');
    if (req.method !== 'GET' || path !== '/metrics') return answer(res, 404, 'only GET /metrics and GET /healthz are served here');
    const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (adminDigest && !crypto.timingSafeEqual(sha256(token), adminDigest)) {
      return answer(res, 401, 'the admin key (HERALD_API_KEY) is required as "Authorization: Bearer <key>"', { 'www-authenticate': 'Bearer' });
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => answer(res, 500, err instanceof Error ? err.message : String(err)),
    );
  }, options, options.http);
  return { url: `http://${options.host ?? 'localhost'}:${port}/metrics`, close };
}
