import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../src/logger.ts';
import { ChaosReceiver, type ReceiverLogLine } from './chaosReceiver.ts';
import { heraldRole, type HeraldRole } from './herald.ts';
import { freeClusterPorts, freePort } from './ports.ts';
import { startCluster } from './topology.ts';
import { waitFor } from './wait.ts';

/** What the soak does to Herald; it talks to Herald only through its HTTP API and the processes' pids. */
export interface ChaosTarget {
  name: string;
  apiUrl: string;
  /** kill -9 one worker process and start it again; answers which, once it is killed (the restart may go on). */
  killWorker(): Promise<string>;
  /** Waits for restarts still under way. */
  settle(): Promise<void>;
  /** Restarts the Temporal server (a crash: SIGKILL) and answers once Herald serves again. */
  restartTemporal(): Promise<void>;
  /** Restarts PostgreSQL; undefined where there is none to restart (the embedded default's PGlite is in process). */
  restartPostgres?: () => Promise<void>;
  stop(): Promise<void>;
}

export interface ChaosOptions {
  events: number;
  /** Events sent per second, steadily. */
  rate: number;
  workerKills: number;
  temporalRestarts: number;
  postgresRestarts: number;
  /** Receivers' logs and the report. */
  dir: string;
  /** Longest wait, after the last event is accepted and the last crash is over, for every delivery while they still arrive. */
  drainTimeoutMs: number;
  /** Seeds the schedule of crashes and the 5xx endpoint's answers, so a run can be repeated. */
  seed: number;
  logger: Logger;
}

export interface EndpointReport {
  name: string;
  behaviour: string;
  delivered: number;
  lost: number;
  duplicates: number;
  requests: number;
  longestDelayMs: number;
}

export interface ChaosReport {
  target: string;
  events: { sent: number; accepted: number; refusedAnswers: number };
  crashes: { workerKills: number; temporalRestarts: number; postgresRestarts: number };
  endpoints: EndpointReport[];
  lost: number;
  duplicates: number;
  /** (event, endpoint) pairs whose requests carried more than one webhook-id, and webhook-ids shared by two events. */
  idViolations: string[];
  /** Requests naming no event this run accepted. */
  unexpected: number;
  longestDelayMs: number;
  durationS: number;
  passed: boolean;
}

/** A small seeded generator (mulberry32): the same seed gives the same schedule. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How long a producer keeps retrying one event before it gives up (the event is then reported as not accepted). */
const PRODUCER_PATIENCE_MS = 15 * 60_000;

/** No request at any receiver for this long, after the sending: Herald is retrying nothing, so what is missing is lost. */
const QUIET_MS = 120_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The soak: registers three endpoints (one steady, one answering 5xx at random, one down for the
 * second quarter of the run), sends `events` at `rate` while crashing workers, Temporal and
 * PostgreSQL at random moments, waits for quiet, and judges from the receivers' own logs.
 */
export async function runChaos(target: ChaosTarget, opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.logger.child({ component: 'chaos' });
  log.info({ target: target.name, ...opts, logger: undefined }, 'chaos soak starting');
  const rand = random(opts.seed);
  const started = Date.now();
  fs.mkdirSync(opts.dir, { recursive: true });
  const receivers = {
    steady: await ChaosReceiver.start(path.join(opts.dir, 'receiver-steady.jsonl'), () => 200),
    flaky: await ChaosReceiver.start(path.join(opts.dir, 'receiver-flaky.jsonl'), () => (rand() < 0.3 ? 503 : 200)),
    outage: await ChaosReceiver.start(path.join(opts.dir, 'receiver-outage.jsonl'), () => 200),
  };
  const behaviour = { steady: 'answers 200', flaky: 'answers 503 to 30% of requests', outage: 'refuses connections for the second quarter of the sending' };
  try {
    const runId = `chaos-${started.toString(36)}`;
    for (const [name, receiver] of Object.entries(receivers)) {
      const response = await post(target.apiUrl, '/v1/endpoints', {
        url: receiver.url, eventTypes: ['chaos.*'], description: `chaos soak: ${name}`, timeoutMs: 3_000,
        // Ample attempts, short waits: the soak judges loss, not the retry schedule.
        retryPolicy: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 50 },
      });
      if (response.status !== 201) throw new Error(`registering the ${name} endpoint answered ${response.status}: ${await response.text()}`);
    }

    const sendingMs = (opts.events / opts.rate) * 1000;
    // Crashes at random moments of the sending, one at a time, in time order.
    const crashes = [
      ...Array.from({ length: opts.workerKills }, () => 'worker' as const),
      ...Array.from({ length: opts.temporalRestarts }, () => 'temporal' as const),
      ...Array.from({ length: opts.postgresRestarts }, () => 'postgres' as const),
    ].map((kind) => ({ kind, atMs: (0.05 + 0.9 * rand()) * sendingMs })).sort((a, b) => a.atMs - b.atMs);
    const done = { workerKills: 0, temporalRestarts: 0, postgresRestarts: 0 };
    const chaos = (async () => {
      for (const crash of crashes) {
        await sleep(crash.atMs - (Date.now() - started));
        if (crash.kind === 'worker') {
          log.info({ worker: await target.killWorker() }, 'worker killed (kill -9); restarting it');
          done.workerKills += 1;
        } else if (crash.kind === 'temporal') {
          await target.restartTemporal();
          log.info('Temporal server killed and restarted');
          done.temporalRestarts += 1;
        } else if (target.restartPostgres) {
          await target.restartPostgres();
          log.info('PostgreSQL restarted');
          done.postgresRestarts += 1;
        }
      }
    })();
    const outage = (async () => {
      await sleep(sendingMs * 0.25);
      await receivers.outage.down();
      log.info('outage endpoint down');
      await sleep(sendingMs * 0.25);
      await receivers.outage.up();
      log.info('outage endpoint back');
    })();

    // A producer that retries until it has an answer: 202 accepted, or 200 (a retry of one whose answer was lost).
    const acceptedAt = new Map<string, number>();
    let refusedAnswers = 0;
    // Retries back off (1, 2, 4… 30 s, or the answer's Retry-After) so that a backlog of producers
    // waiting out an outage does not become a storm of requests when Herald comes back.
    const sendOne = async (n: number) => {
      const id = `${runId}-${n}`;
      const giveUpAt = Date.now() + PRODUCER_PATIENCE_MS;
      for (let delayMs = 1_000; Date.now() < giveUpAt; delayMs = Math.min(delayMs * 2, 30_000)) {
        const response = await post(target.apiUrl, '/v1/events', { id, type: 'chaos.tick', data: { eventId: id, n } }).catch(() => undefined);
        if (response?.status === 202 || response?.status === 200) {
          acceptedAt.set(id, Date.now());
          return;
        }
        refusedAnswers += 1;
        const retryAfterS = Number(response?.headers.get('retry-after'));
        await sleep(retryAfterS > 0 ? Math.max(delayMs, retryAfterS * 1000) : delayMs);
      }
      log.error({ id }, 'event never accepted');
    };
    const sends: Promise<void>[] = [];
    for (let n = 0; n < opts.events; n += 1) {
      await sleep(started + (n / opts.rate) * 1000 - Date.now());
      sends.push(sendOne(n));
      if (n > 0 && n % Math.max(1, Math.round(opts.events / 10)) === 0) log.info({ sent: n, accepted: acceptedAt.size, crashes: done }, 'progress');
    }
    await Promise.all([...sends, chaos, outage]);
    await target.settle();
    log.info({ accepted: acceptedAt.size, crashes: done }, 'sending and crashes over: waiting for every delivery');

    // Quiet: every accepted event answered 2xx at every endpoint and no request for 5 s (late duplicates);
    // or no request at all for QUIET_MS (nothing is being retried: what is missing is lost); or the hard cap.
    const drainDeadline = Date.now() + opts.drainTimeoutMs;
    const delivered = (receiver: ChaosReceiver) => new Set(receiver.read().filter((r) => r.status < 300).map((r) => r.eventId));
    let lastProgress = 0;
    await waitFor('every delivery', async () => {
      const lines = Object.values(receivers).map((r) => r.read());
      const missing = Object.values(receivers).reduce((sum, receiver) => {
        const ids = delivered(receiver);
        return sum + [...acceptedAt.keys()].filter((id) => !ids.has(id)).length;
      }, 0);
      const sinceLast = Date.now() - Math.max(...lines.flat().map((line) => line.at), started);
      if (Date.now() - lastProgress > 30_000) {
        lastProgress = Date.now();
        log.info({ missing }, 'waiting for deliveries');
      }
      return (missing === 0 && sinceLast > 5_000) || sinceLast > QUIET_MS || Date.now() > drainDeadline;
    }, opts.drainTimeoutMs + 10_000, 1_000);

    const endpoints = Object.entries(receivers).map(([name, receiver]) =>
      judgeEndpoint(name, behaviour[name as keyof typeof behaviour], receiver.read(), acceptedAt));
    const idViolations = endpoints.flatMap((e) => e.idViolations.map((v) => `${e.name}: ${v}`));
    const report: ChaosReport = {
      target: target.name,
      events: { sent: opts.events, accepted: acceptedAt.size, refusedAnswers },
      crashes: done,
      endpoints: endpoints.map(({ idViolations: _, unexpected: __, ...e }) => e),
      lost: endpoints.reduce((sum, e) => sum + e.lost, 0),
      duplicates: endpoints.reduce((sum, e) => sum + e.duplicates, 0),
      idViolations,
      unexpected: endpoints.reduce((sum, e) => sum + e.unexpected, 0),
      longestDelayMs: Math.max(...endpoints.map((e) => e.longestDelayMs)),
      durationS: Math.round((Date.now() - started) / 1000),
      passed: false,
    };
    // Events never accepted are not losses (the producer was told to retry) but fail the soak too: ingest must come back.
    report.passed = report.lost === 0 && idViolations.length === 0 && report.unexpected === 0 && acceptedAt.size === opts.events
      && done.workerKills === opts.workerKills && done.temporalRestarts === opts.temporalRestarts
      && done.postgresRestarts === (target.restartPostgres ? opts.postgresRestarts : 0);
    fs.writeFileSync(path.join(opts.dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    return report;
  } finally {
    for (const receiver of Object.values(receivers)) await receiver.stop();
  }
}

/** One endpoint judged from its receiver's log against the events the API accepted and when. */
function judgeEndpoint(name: string, behaviour: string, lines: ReceiverLogLine[], acceptedAt: Map<string, number>) {
  const byEvent = new Map<string, ReceiverLogLine[]>();
  let unexpected = 0;
  for (const line of lines) {
    if (!acceptedAt.has(line.eventId)) unexpected += 1;
    else byEvent.set(line.eventId, [...(byEvent.get(line.eventId) ?? []), line]);
  }
  const idViolations: string[] = [];
  const ownerOfId = new Map<string, string>();
  let delivered = 0;
  let duplicates = 0;
  let longestDelayMs = 0;
  for (const [eventId, requests] of byEvent) {
    const ids = new Set(requests.map((r) => r.webhookId));
    if (ids.size !== 1) idViolations.push(`event ${eventId} arrived under ${ids.size} webhook-ids`);
    for (const id of ids) {
      const owner = ownerOfId.get(id);
      if (owner && owner !== eventId) idViolations.push(`events ${owner} and ${eventId} share webhook-id ${id}`);
      ownerOfId.set(id, eventId);
    }
    const successes = requests.filter((r) => r.status < 300);
    if (!successes.length) continue;
    delivered += 1;
    duplicates += successes.length - 1;
    longestDelayMs = Math.max(longestDelayMs, successes[0]!.at - acceptedAt.get(eventId)!);
  }
  return { name, behaviour, delivered, lost: acceptedAt.size - delivered, duplicates, requests: lines.length, longestDelayMs, idViolations, unexpected };
}

function post(apiUrl: string, route: string, body: unknown): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (process.env.HERALD_API_KEY) headers.authorization = `Bearer ${process.env.HERALD_API_KEY}`;
  return fetch(`${apiUrl}${route}`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
}

/** The report as the few lines `npm run chaos` prints and docs/chaos.md quotes. */
export function formatReport(report: ChaosReport): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const { events, crashes } = report;
  return [
    `chaos soak on ${report.target}: ${report.passed ? 'PASSED' : 'FAILED'} in ${report.durationS} s`,
    `  events     ${events.sent} sent, ${events.accepted} accepted (${events.refusedAnswers} ingest answers refused or lost, retried)`,
    `  crashes    ${crashes.workerKills} worker kill -9, ${crashes.temporalRestarts} Temporal server kill -9 + restart, ${crashes.postgresRestarts} PostgreSQL restart`,
    ...report.endpoints.map((e) => `  ${e.name.padEnd(10)} ${e.delivered} delivered, ${e.lost} lost, ${e.duplicates} duplicates, ${e.requests} requests, longest delay ${s(e.longestDelayMs)} (${e.behaviour})`),
    `  total      lost ${report.lost}, duplicates ${report.duplicates}, webhook-id violations ${report.idViolations.length}, unexpected requests ${report.unexpected}, longest delay ${s(report.longestDelayMs)}`,
    ...report.idViolations.slice(0, 10).map((v) => `  ! ${v}`),
  ].join('\n');
}

/**
 * Herald's settings under the soak. It judges loss through crashes: the circuit breaker would hold
 * the outage endpoint for cool-downs (1 min, doubling) longer than the soak's two quiet minutes.
 */
const SOAK_HERALD_ENV = { LOG_LEVEL: 'info', HERALD_CIRCUIT_FAILURES: '1000000' };

/** The docker-compose.yml topology (ops/topology.ts) in a fresh directory, on free ports. */
export async function clusterTarget(opts: { dir: string; cacheDir: string; workers: number; logger: Logger }): Promise<ChaosTarget> {
  const cluster = await startCluster({
    dir: opts.dir, cacheDir: opts.cacheDir, workers: opts.workers, headless: true, logger: opts.logger,
    heraldEnv: SOAK_HERALD_ENV, ports: await freeClusterPorts(opts.workers),
  });
  let kills = 0;
  const restarting = new Map<HeraldRole, Promise<void>>();
  const apiReady = () => waitFor('the Herald API to be ready again', () => fetch(`${cluster.apiUrl}/readyz`).then((r) => r.ok, () => false), 180_000, 250);
  return {
    name: `the cluster (Temporal on PostgreSQL, ${opts.workers} worker processes)`,
    apiUrl: cluster.apiUrl,
    async killWorker() {
      // In turn: each worker gets its share of the kills.
      const worker = cluster.workers[kills++ % cluster.workers.length]!;
      await restarting.get(worker); // killed again only once it is back
      await worker.kill('SIGKILL');
      // The other workers go on meanwhile; the next crash need not wait for this restart.
      const restart = worker.start();
      restart.catch(() => undefined); // awaited by the next kill of this worker or by settle(), which see the failure
      restarting.set(worker, restart);
      return worker.name;
    },
    async settle() {
      await Promise.all(restarting.values());
    },
    async restartTemporal() {
      await cluster.temporal.kill('SIGKILL');
      await cluster.temporal.start();
      await apiReady();
    },
    async restartPostgres() {
      // Both servers: Temporal's and Herald's.
      await Promise.all([cluster.temporalDb.stop(), cluster.heraldDb.stop()]);
      await Promise.all([cluster.temporalDb.start(), cluster.heraldDb.start()]);
      await apiReady();
    },
    stop: cluster.stop,
  };
}

/**
 * The embedded default (`npm start`): one Herald process with its supervised Temporal dev server and
 * PGlite. A "worker kill" is kill -9 of that process (its dev server is left behind and replaced by
 * the next start); a Temporal restart is kill -9 of the dev server, which Herald restarts itself.
 */
export async function embeddedTarget(opts: { dir: string; logger: Logger }): Promise<ChaosTarget> {
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const dataDir = path.join(opts.dir, 'herald');
  const herald = heraldRole('herald', 'all', {
    ...SOAK_HERALD_ENV, PORT: String(port), HERALD_HOST: '127.0.0.1', HERALD_DATA_DIR: dataDir,
    HERALD_DEV_SERVER_PORT: String(await freePort()), HERALD_UI_PORT: String(await freePort()), HERALD_TEMPORAL_METRICS_PORT: '0',
  }, `${apiUrl}/readyz`, path.join(opts.dir, 'herald.log'));
  await herald.start();
  const pidFile = path.join(dataDir, 'temporal-dev-server.pid');
  const devServerPid = () => Number(fs.readFileSync(pidFile, 'utf8').trim());
  return {
    name: 'the embedded default (one process, supervised dev server, PGlite)',
    apiUrl,
    async killWorker() {
      await herald.kill('SIGKILL');
      await herald.start();
      return 'herald (all roles)';
    },
    async settle() {},
    async restartTemporal() {
      const pid = devServerPid();
      process.kill(pid, 'SIGKILL');
      await waitFor('Herald to restart its dev server', async () => {
        const current = await fs.promises.readFile(pidFile, 'utf8').then(Number, () => pid);
        return current !== pid && (await fetch(`${apiUrl}/readyz`).then((r) => r.ok, () => false));
      }, 120_000, 250);
    },
    async stop() {
      await herald.kill('SIGTERM');
      // A dev server left behind by a kill -9 whose successor had not yet replaced it.
      const pid = await fs.promises.readFile(pidFile, 'utf8').then(Number, () => undefined);
      if (pid) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    },
  };
}
