import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { round } from './stats.ts';

/**
 * The bench's phases for how Herald reaches a receiver (issue 22, "Measured"): deliveries/s to an
 * endpoint with `auth` oauth2-client-credentials (a real token server; the token cached) and to one
 * through the egress proxy (a loopback CONNECT proxy), each beside a plain endpoint in the same run.
 * Plain and variant take turns, `ROUNDS` each, so a drift of the (shared) machine falls on both alike.
 */

export const reachPhases = ['oauth2', 'proxy'] as const;
export type ReachPhase = (typeof reachPhases)[number];
const ROUNDS = 2;

/** What one end-to-end run measured (bench/run.ts `endToEnd`), as far as the comparison needs. */
interface Run { deliveries: number; seconds: number | null; deliveriesPerSecond: number | null; cpuMsPerDelivery: { herald: number | null | undefined } }

/** One endpoint a reach phase delivers to: its receiver path (under /ok/) and the event type only it subscribes to. */
export interface ReachEndpoint { phase: ReachPhase; side: 'plain' | 'variant'; round: number; name: string; eventType: string }

/** Plain and variant endpoints of `phase`, in the order they are run. */
export function reachEndpoints(phase: ReachPhase): ReachEndpoint[] {
  return Array.from({ length: ROUNDS }, (_, i) => i + 1).flatMap((round) => (['plain', 'variant'] as const).map((side) => ({
    phase, side, round, name: `ok/${phase}-${side}-${round}`, eventType: `bench.${phase}.${side}${round}`,
  })));
}

/** The runs of one phase side by side: each run, and variant deliveries/s over plain's, both totalled over the rounds. */
export async function besidePlain(phase: ReachPhase, run: (endpoint: ReachEndpoint) => Promise<Run>) {
  const runs: (ReachEndpoint & Run)[] = [];
  for (const endpoint of reachEndpoints(phase)) runs.push({ ...endpoint, ...(await run(endpoint)) });
  const rate = (side: 'plain' | 'variant') => {
    const mine = runs.filter((r) => r.side === side);
    return mine.reduce((sum, r) => sum + r.deliveries, 0) / mine.reduce((sum, r) => sum + (r.seconds ?? NaN), 0);
  };
  // Herald's CPU per delivery: on a machine shared with other work, steadier than deliveries/s.
  const cpu = (side: 'plain' | 'variant') => {
    const mine = runs.filter((r) => r.side === side);
    return mine.reduce((sum, r) => sum + (r.cpuMsPerDelivery.herald ?? NaN) * r.deliveries, 0) / mine.reduce((sum, r) => sum + r.deliveries, 0);
  };
  return {
    runs: runs.map(({ side, round: turn, deliveriesPerSecond, cpuMsPerDelivery }) => ({ side, round: turn, deliveriesPerSecond, heraldCpuMsPerDelivery: cpuMsPerDelivery.herald })),
    plainDeliveriesPerSecond: round(rate('plain')), variantDeliveriesPerSecond: round(rate('variant')),
    ratioToPlain: round(rate('variant') / rate('plain'), 2),
    heraldCpuMsPerDelivery: { plain: round(cpu('plain')), variant: round(cpu('variant')) },
  };
}

/**
 * An OAuth2 token server on 127.0.0.1 (client credentials grant): a token good for an hour to any
 * client. It counts its token requests: with the token cached, a phase asks for one, or a few at once.
 */
export async function startTokenServer(): Promise<{ url: string; requests: () => number; stop: () => Promise<void> }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests += 1;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify({ access_token: `bench-token-${requests}`, token_type: 'Bearer', expires_in: 3600 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`,
    requests: () => requests,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
