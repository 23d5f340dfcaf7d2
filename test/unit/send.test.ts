import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { deliveryDispatcher } from '../../src/delivery/destinations.ts';
import { send, SendError, type SendRequest } from '../../src/delivery/send.ts';

/** The garbage collector, as `--expose-gc` gives it, whether or not the test runs with that flag. */
const forceGc: () => void =
  (globalThis as { gc?: () => void }).gc ?? (v8.setFlagsFromString('--expose-gc'), vm.runInNewContext('gc') as () => void);

/** Fails if `work` is still running `limitMs` from now; answers how long it took otherwise. */
async function within<T>(limitMs: number, work: Promise<T>): Promise<{ outcome: T | SendError; elapsedMs: number }> {
  const started = performance.now();
  let limit: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    work.catch((err: SendError) => err),
    new Promise<never>((_, reject) => (limit = setTimeout(() => reject(new Error(`still running ${limitMs} ms later`)), limitMs))),
  ]).finally(() => clearTimeout(limit));
  return { outcome, elapsedMs: performance.now() - started };
}

/** A raw TCP server on 127.0.0.1 whose connections `onConnection` handles byte by byte. */
async function rawServer(onConnection: (socket: net.Socket) => void): Promise<{ url: string; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** Writes `text` one byte a second, for as long as the socket is open. */
function trickle(socket: net.Socket, text: string): void {
  let at = 0;
  const tick = setInterval(() => {
    if (socket.destroyed || at >= text.length) return clearInterval(tick);
    socket.write(text[at++]!);
  }, 1000);
  socket.on('close', () => clearInterval(tick));
}

const post = (url: string, overrides: Partial<SendRequest> = {}): SendRequest => ({
  url, headers: { 'content-type': 'application/json' }, body: '{"type":"order.submitted"}', timeoutMs: 1500, ...overrides,
});

describe('sending one attempt', () => {
  let server: http.Server;
  let base: string;
  const received: http.IncomingMessage[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      received.push(req);
      req.resume();
      if (req.url === '/long') return res.writeHead(503, { 'retry-after': '7' }).end('x'.repeat(5000));
      res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(() => server?.close());

  test('answers the status, the headers and the first KiB of the body', async () => {
    const ok = await send(post(`${base}/ok`));
    assert.deepEqual([ok.status, ok.excerpt], [200, 'thanks']);
    const long = await send(post(`${base}/long`));
    assert.deepEqual([long.status, long.headers['retry-after'], long.excerpt], [503, '7', 'x'.repeat(1024)]);
  });

  test('a receiver that never answers is cut off at the deadline, even with major GCs during the attempt', async () => {
    const silent = await rawServer(() => undefined);
    const collecting = setInterval(forceGc, 100);
    try {
      const { outcome, elapsedMs } = await within(10_000, send(post(silent.url, { timeoutMs: 1500 })));
      assert.ok(outcome instanceof SendError && outcome.kind === 'timeout', String(outcome));
      assert.equal(outcome.message, 'timed out after 1500 ms');
      console.log(`silent receiver, 1500 ms deadline, GC every 100 ms: cut off after ${elapsedMs.toFixed(0)} ms`);
    } finally {
      clearInterval(collecting);
      silent.close();
    }
  });

  test('a receiver that trickles its headers one byte a second is cut off at the deadline', async () => {
    const slow = await rawServer((socket) => trickle(socket, 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
    const collecting = setInterval(forceGc, 100);
    try {
      const { outcome, elapsedMs } = await within(10_000, send(post(slow.url, { timeoutMs: 2000 })));
      assert.ok(outcome instanceof SendError && outcome.kind === 'timeout', String(outcome));
      console.log(`headers trickled, 2000 ms deadline: cut off after ${elapsedMs.toFixed(0)} ms`);
    } finally {
      clearInterval(collecting);
      slow.close();
    }
  });

  test('a body that trickles one byte a second ends the attempt at the deadline with the status and what arrived', async () => {
    const slow = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n');
      trickle(socket, 'abcdefghij'.repeat(10));
    });
    const collecting = setInterval(forceGc, 100);
    try {
      const { outcome, elapsedMs } = await within(10_000, send(post(slow.url, { timeoutMs: 2500 })));
      assert.ok(!(outcome instanceof SendError), String(outcome));
      assert.equal(outcome.status, 200);
      assert.match(outcome.excerpt ?? '', /^ab?c?$/);
      console.log(`body trickled, 2500 ms deadline: ended after ${elapsedMs.toFixed(0)} ms with excerpt "${outcome.excerpt}"`);
    } finally {
      clearInterval(collecting);
      slow.close();
    }
  });

  test('a header value undici cannot send is a final request error, and nothing reaches the receiver', async () => {
    const before = received.length;
    for (const value of ['line\r\nbreak', 'nul\0byte', 'euro €']) {
      await assert.rejects(send(post(`${base}/ok`, { headers: { 'x-token': value } })), (err: SendError) => err.kind === 'request', JSON.stringify(value));
    }
    assert.equal(received.length, before);
  });

  test('a URL with credentials is refused without sending it or repeating the password', async () => {
    const before = received.length;
    await assert.rejects(send(post(base.replace('http://', 'http://user:hunter2@'))), (err: SendError) =>
      err.kind === 'request' && !err.message.includes('hunter2'));
    assert.equal(received.length, before);
  });

  test('a guarded dispatcher refuses a private destination as forbidden; a closed port is a connection failure', async () => {
    const guarded = deliveryDispatcher({ guarded: true, keepAlive: false });
    await assert.rejects(send(post(`${base}/ok`, { dispatcher: guarded })), (err: SendError) => err.kind === 'forbidden');
    await guarded.close();
    const closed = await rawServer(() => undefined);
    closed.close();
    await assert.rejects(send(post(closed.url)), (err: SendError) => err.kind === 'connection' && /ECONNREFUSED/.test(err.message));
  });

  test('an abort from the caller (the worker shutting down) is rethrown as its own reason, not as a failed attempt', async () => {
    const silent = await rawServer(() => undefined);
    const shutdown = new AbortController();
    setTimeout(() => shutdown.abort(new Error('worker shutting down')), 100);
    await assert.rejects(send(post(silent.url, { signal: shutdown.signal, timeoutMs: 5000 })), /worker shutting down/);
    silent.close();
  });
});
