import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The benchmark's receiver on 127.0.0.1. `/ok/<name>` answers 200 at once; `/flaky/<name>`
 * answers 503 to the first two attempts of each message and 200 to the third. It records when
 * each (path, webhook-id) first succeeded, by the time its request headers arrived.
 */
export class BenchReceiver {
  /** `${path} ${webhook-id}` → performance.now() of the successful request's arrival. */
  readonly delivered = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private server?: http.Server;
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const arrivedAt = performance.now();
      const key = `${req.url} ${req.headers['webhook-id']}`;
      req.resume();
      req.on('end', () => {
        if (req.url?.startsWith('/flaky/')) {
          const failed = this.failures.get(key) ?? 0;
          if (failed < 2) {
            this.failures.set(key, failed + 1);
            res.writeHead(503).end();
            return;
          }
        }
        if (!this.delivered.has(key)) this.delivered.set(key, arrivedAt);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Successful deliveries so far whose path starts with `prefix`. */
  count(prefix: string): number {
    let n = 0;
    for (const key of this.delivered.keys()) if (key.startsWith(prefix)) n += 1;
    return n;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
