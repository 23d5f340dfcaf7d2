import assert from 'node:assert/strict';
import { startTestHerald, type TestHerald } from './herald.ts';
import { Receiver, type Reply, type Responder } from './receiver.ts';
import { startTimeSkippingHerald, type TimeSkippingHerald } from './timeSkipping.ts';

/** A Herald and the real receiver its endpoints point at, started together and stopped together. */
export interface HeraldWithReceiver<H> {
  herald: H;
  receiver: Receiver;
  /** Stops the Herald, then the receiver: for node:test's `after`. */
  stop(): Promise<void>;
}

/** What a test creates an endpoint with: the receiver path it points at, the path's replies, and the rest of the API's body. */
export type EndpointAtReceiver = { path: string; replies?: Reply[] | Responder } & Record<string, unknown>;

export interface TestHeraldWithReceiver extends HeraldWithReceiver<TestHerald> {
  /**
   * Creates an endpoint through the API whose URL is `path` at the receiver, answering with `replies`
   * (200 when none); asserts the 201 and answers the created endpoint.
   */
  createEndpoint(endpoint: EndpointAtReceiver, headers?: Record<string, string>): Promise<any>;
}

/** The pair, with the one stop that ends both: the Herald first, whose attempts may still be reaching the receiver. */
function stoppedTogether<H extends { stop(): Promise<void> }>(herald: H, receiver: Receiver): HeraldWithReceiver<H> {
  return {
    herald,
    receiver,
    async stop() {
      await herald.stop();
      await receiver.close();
    },
  };
}

/** Starts `second` once `first` runs; stops `first` if `second` fails to start. */
async function startInTurn<A, B>(first: () => Promise<A>, second: (started: A) => Promise<B>, stopFirst: (started: A) => Promise<void>): Promise<[A, B]> {
  const started = await first();
  try {
    return [started, await second(started)];
  } catch (err) {
    await stopFirst(started);
    throw err;
  }
}

/**
 * Herald as `npm start` runs it (startTestHerald) and a receiver on 127.0.0.1. `env` is Herald's
 * environment, or a function of the receiver when it names the receiver's URLs (the receiver then starts first).
 */
export async function startHeraldWithReceiver(
  env: Record<string, string> | ((receiver: Receiver) => Record<string, string>) = {},
  options: Parameters<typeof startTestHerald>[1] = {},
): Promise<TestHeraldWithReceiver> {
  // The receiver first: it starts in a moment, and Herald's configuration may name its URLs.
  const [receiver, herald] = await startInTurn(
    () => Receiver.start(),
    (started) => startTestHerald(typeof env === 'function' ? env(started) : env, options),
    (started) => started.close(),
  );
  return {
    ...stoppedTogether(herald, receiver),
    async createEndpoint({ path, replies = [], ...fields }, headers) {
      const url = Array.isArray(replies) ? receiver.script(path, ...replies) : receiver.respond(path, replies);
      const created = await herald.api('POST', '/v1/endpoints', { url, ...fields }, headers);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body;
    },
  };
}

/**
 * Herald's worker on Temporal's time-skipping test server (startTimeSkippingHerald) and a receiver
 * that stamps arrivals with the test server's clock, so the gaps between them are workflow time.
 */
export async function startTimeSkippingHeraldWithReceiver(
  options: Parameters<typeof startTimeSkippingHerald>[0] = {},
): Promise<HeraldWithReceiver<TimeSkippingHerald>> {
  const [herald, receiver] = await startInTurn(
    () => startTimeSkippingHerald(options),
    (started) => Receiver.start({ clock: () => started.env.currentTimeMs() }),
    (started) => started.stop(),
  );
  return stoppedTogether(herald, receiver);
}
