import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Arrival, milliseconds, by the receiver's clock (the wall clock unless it was given another). */
  at: number;
  /** The status it was answered with; unset while held open, after a reset, or before the answer. */
  status?: number;
}

/** How the receiver answers one request; `hang` never answers (a timeout for the sender), `reset` drops the connection. */
export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang' | 'reset';

/** Decides the reply to one request, for example by a clock; `index` counts the path's requests from 0. */
export type Responder = (request: ReceivedRequest, index: number) => Reply | Promise<Reply>;

/**
 * A real HTTP receiver on 127.0.0.1. Each path answers with its own script of replies
 * (the last one repeats) or its own responder; other paths answer 200.
 */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly responders = new Map<string, Responder>();
  private readonly waiters = new Set<() => void>();
  private readonly hanging = new Set<http.ServerResponse>();
  private constructor(private readonly server: http.Server, readonly url: string, private readonly clock: () => number | Promise<number>) {}

  /** `clock` stamps arrivals; a time-skipping test passes the test server's, so gaps are workflow time. */
  static async start(options: { clock?: () => number | Promise<number> } = {}): Promise<Receiver> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new Receiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, options.clock ?? Date.now);
    server.on('request', (req, res) => receiver.handle(req, res));
    return receiver;
  }

  script(path: string, ...replies: Reply[]): string {
    return this.respond(path, (_request, index) => replies[Math.min(index, replies.length - 1)] ?? { status: 200 });
  }

  respond(path: string, responder: Responder): string {
    this.responders.set(path, responder);
    return `${this.url}${path}`;
  }

  received(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** The webhook-ids answered with a 2xx at `path`: what a receiver that deduplicates on webhook-id processed, each once. */
  delivered(path: string): Set<string> {
    return new Set(this.received(path).filter((r) => r.status !== undefined && r.status >= 200 && r.status < 300).map((r) => String(r.headers['webhook-id'])));
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

  /** Closes the listening socket and every connection: senders are refused until acceptConnections(). */
  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Listens again, on the same port, after close(). */
  async acceptConnections(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(Number(new URL(this.url).port), '127.0.0.1', resolve));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const path = req.url ?? '/';
      const request: ReceivedRequest = { path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: await this.clock() };
      this.requests.push(request);
      const responder = this.responders.get(path);
      const reply = responder ? await responder(request, this.received(path).length - 1) : { status: 200 };
      for (const waiter of [...this.waiters]) waiter();
      if (reply === 'hang') {
        this.hanging.add(res);
        return;
      }
      if (reply === 'reset') {
        req.socket.resetAndDestroy();
        return;
      }
      request.status = reply.status;
      res.writeHead(reply.status, reply.headers).end(reply.body ?? '');
    });
  }
}

/**
 * The events delivered to `path`, counted as a receiver that deduplicates on webhook-id counts them,
 * after checking that every request of one event (named by `eventId` in its data) carried one
 * webhook-id and that no two events share one.
 */
export function eventsDeliveredAt(receiver: Receiver, path: string): number {
  const idsByEvent = new Map<string, Set<string>>();
  for (const request of receiver.received(path)) {
    const eventId = String(JSON.parse(request.body).data.eventId);
    idsByEvent.set(eventId, (idsByEvent.get(eventId) ?? new Set()).add(String(request.headers['webhook-id'])));
  }
  for (const [eventId, ids] of idsByEvent) assert.equal(ids.size, 1, `${path}: event ${eventId} arrived under webhook-ids ${[...ids]}`);
  assert.equal(new Set([...idsByEvent.values()].flatMap((ids) => [...ids])).size, idsByEvent.size, `${path}: two events share a webhook-id`);
  return receiver.delivered(path).size;
}
