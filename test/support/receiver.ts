import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Wall-clock arrival, milliseconds. */
  at: number;
}

/** How the receiver answers one request; `hang` never answers (a timeout for the sender), `reset` drops the connection. */
export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang' | 'reset';

/**
 * A real HTTP receiver on 127.0.0.1. Each path answers with its own script of replies
 * (the last one repeats); unscripted paths answer 200.
 */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly scripts = new Map<string, Reply[]>();
  private readonly waiters = new Set<() => void>();
  private readonly hanging = new Set<http.ServerResponse>();
  private constructor(private readonly server: http.Server, readonly url: string) {}

  static async start(): Promise<Receiver> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new Receiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (req, res) => receiver.handle(req, res));
    return receiver;
  }

  script(path: string, ...replies: Reply[]): string {
    this.scripts.set(path, replies);
    return `${this.url}${path}`;
  }

  received(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Resolves once `path` has received `count` requests; rejects after `timeoutMs` of real time. */
  async waitFor(path: string, count: number, timeoutMs = 30_000): Promise<ReceivedRequest[]> {
    if (this.received(path).length >= count) return this.received(path);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${path} received ${this.received(path).length} of ${count} requests in ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        if (this.received(path).length < count) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(this.received(path));
      };
      this.waiters.add(check);
    });
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      this.requests.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const script = this.scripts.get(path) ?? [];
      const reply = script[Math.min(this.received(path).length - 1, script.length - 1)] ?? { status: 200 };
      for (const waiter of [...this.waiters]) waiter();
      if (reply === 'hang') {
        this.hanging.add(res);
        return;
      }
      if (reply === 'reset') {
        req.socket.resetAndDestroy();
        return;
      }
      res.writeHead(reply.status, reply.headers).end(reply.body ?? '');
    });
  }
}
