/**
 * `npm run bench`: Herald as `npm start` runs it (one process: API, worker, PGlite) on the
 * embedded Temporal dev server, a real receiver on 127.0.0.1, and a bare-Temporal baseline on the
 * same server with the same worker settings. Prints a table and writes bench/results/<label>.json.
 * Flags: see `usage` below; BENCHMARKS.md explains the figures.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { Pool } from 'undici';
import { freeLowPort } from '../ops/ports.ts';
import { loadConfig } from '../src/config.ts';
import { messageIdFor } from '../src/delivery/classify.ts';
import { createLogger } from '../src/logger.ts';
import { startDevServer } from '../src/temporal/devServer.ts';
import type { BaselineBatch, BaselineResult } from './baseline/worker.ts';
import type { LoadResult, LoadSpec } from './loadGenerator.ts';
import { cpuSeconds, mainThreadCpuSeconds, peakRssMiB, residentKindsMiB, rssMiB } from './processStats.ts';
import { Progress } from './progress.ts';
import { BenchReceiver } from './receiver.ts';
import { percentile, round } from './stats.ts';
import { type ProfileWindow, summarizeCpuProfiles, summarizePerfReport } from './profile.ts';
import { actionsPerDelivery } from './actions.ts';
import { benchCluster, clusterUnderTest } from './cluster.ts';
import { ConnectProxy } from '../ops/connectProxy.ts';
import { besidePlain, reachEndpoints, reachPhases, startTokenServer } from './reach.ts';

/** The ERP document's target: 1,000 deliveries a minute from one worker. */
const ERP_RATE_PER_SECOND = 1000 / 60;

const phases = ['latency', 'baseline', 'single', 'fanout', 'retry', 'erp', 'ingest', 'traffic', ...reachPhases] as const;

const usage = `npm run bench -- [flags]
  --size small|default|large    how many events (default: default, a few minutes)
  --concurrency N               producer requests in flight (default 32)
  --activity-slots N            HERALD_WORKER_ACTIVITY_SLOTS
  --workflow-slots N            HERALD_WORKER_WORKFLOW_SLOTS
  --cached-workflows N          HERALD_WORKER_CACHED_WORKFLOWS
  --eager-start true|false      HERALD_EAGER_START
  --keep-alive true|false       HERALD_DELIVERY_KEEP_ALIVE
  --sqlite-sync full|normal     HERALD_EMBEDDED_SQLITE_SYNC
  --profile                     CPU-profile Herald and the Temporal server (perf) during the end-to-end run
  --label NAME                  name of the result file (default: a timestamp)
  --only PHASES                 comma-separated subset of ${phases.join(',')} (tuning runs);
                                oauth2 and proxy: each beside a plain endpoint (proxy restarts Herald with HERALD_EGRESS_PROXY, after the other phases)
  --versus NAME=VALUE[,…]       last, the 1-endpoint phase again with Herald restarted with these HERALD_* settings (side by side in one run)
  --cluster                     on npm run cluster's topology instead, with 1 then 2 worker processes (bench/cluster.ts)
Settings not given are Herald's shipped defaults.`;

const sizes = {
  small: { events: 300, fanoutEvents: 60, retries: 200, latencyRate: 5, latencySeconds: 10, erpSeconds: 20, ingestRate: 30, ingestSeconds: 10, trafficEvents: 50 },
  default: { events: 1000, fanoutEvents: 200, retries: 1000, latencyRate: 5, latencySeconds: 20, erpSeconds: 60, ingestRate: 30, ingestSeconds: 15, trafficEvents: 100 },
  large: { events: 10000, fanoutEvents: 2000, retries: 1000, latencyRate: 10, latencySeconds: 30, erpSeconds: 300, ingestRate: 50, ingestSeconds: 30, trafficEvents: 300 },
};

const settingFlags = {
  'activity-slots': 'HERALD_WORKER_ACTIVITY_SLOTS',
  'workflow-slots': 'HERALD_WORKER_WORKFLOW_SLOTS',
  'cached-workflows': 'HERALD_WORKER_CACHED_WORKFLOWS',
  'eager-start': 'HERALD_EAGER_START',
  'keep-alive': 'HERALD_DELIVERY_KEEP_ALIVE',
  'sqlite-sync': 'HERALD_EMBEDDED_SQLITE_SYNC',
} as const;

if (process.argv.includes('--cluster')) process.exit(await benchCluster(process.argv.slice(2)));
const { values: flags } = parseArgs({
  options: {
    size: { type: 'string', default: 'default' },
    concurrency: { type: 'string', default: '32' },
    profile: { type: 'boolean', default: false },
    label: { type: 'string' },
    only: { type: 'string', default: phases.join(',') },
    help: { type: 'boolean', default: false },
    'cluster-workers': { type: 'string' },
    versus: { type: 'string' },
    ...Object.fromEntries(Object.keys(settingFlags).map((flag) => [flag, { type: 'string' as const }])),
  },
});
if (flags.help) {
  console.log(usage);
  process.exit(0);
}
const size = sizes[flags.size as keyof typeof sizes];
const only = new Set(flags.only.split(','));
const runs = (phase: (typeof phases)[number]) => only.has(phase);
const concurrency = Number(flags.concurrency);
if (!size || !(concurrency >= 1)) {
  console.error(`bench: bad --size or --concurrency\n${usage}`);
  process.exit(2);
}
// Only the settings given on the command line are passed on; Herald's config validates them and fills in its defaults.
const settingsEnv: Record<string, string> = Object.fromEntries(
  Object.entries(settingFlags).flatMap(([flag, variable]) => (flags as Record<string, unknown>)[flag] === undefined ? [] : [[variable, String((flags as Record<string, unknown>)[flag])]]),
);
// The retry phase measures retries: the circuit breaker would hold its endpoint, which fails every message twice.
settingsEnv.HERALD_CIRCUIT_FAILURES ??= '1000000';
const versusEnv: Record<string, string> | undefined = flags.versus
  ? Object.fromEntries(flags.versus.split(',').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]))
  : undefined;
if (versusEnv && Object.keys(versusEnv).some((name) => !name.startsWith('HERALD_'))) {
  console.error(`bench: --versus takes HERALD_* settings\n${usage}`);
  process.exit(2);
}
let settings: ReturnType<typeof loadConfig>['tuning'];
try {
  settings = loadConfig({ ...settingsEnv }).tuning;
  if (versusEnv) loadConfig({ ...settingsEnv, ...versusEnv });
} catch (err) {
  console.error(`bench: ${(err as Error).message}`);
  process.exit(2);
}

const repo = path.resolve(import.meta.dirname, '..');
const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-bench-'));
const resultsDir = path.join(repo, 'bench', 'results');
const label = flags.label ?? new Date().toISOString().replace(/[:.]/g, '-');
const children: ChildProcess[] = [];
const log = (line: string) => process.stderr.write(`${line}\n`);

// ---------- the system under test ----------
log(`bench: run dir ${runDir}; settings ${JSON.stringify(settings)}; concurrency ${concurrency}`);
const logger = createLogger('warn');
const cluster = flags['cluster-workers'] ? await clusterUnderTest({ workers: Number(flags['cluster-workers']), env: settingsEnv }) : undefined;
const server = cluster ? { address: cluster.temporalAddress, stop: cluster.stop } : await startDevServer({
  cacheDir: loadConfig({}).cacheDir, dataDir: path.join(runDir, 'temporal'), port: await freeLowPort(), uiPort: 0,
  namespace: 'default', retentionDays: 1, headless: true, logger,
  sqliteSync: settings.embeddedSqliteSync,
});
const serverPid = cluster ? cluster.serverPid : Number(fs.readFileSync(path.join(runDir, 'temporal', 'temporal-dev-server.pid'), 'utf8'));
const receiver = new BenchReceiver();
await receiver.start();
// The reach phases' token server and egress proxy (bench/reach.ts), on loopback like the receiver.
const tokenServer = runs('oauth2') ? await startTokenServer() : undefined;
const egressProxy = runs('proxy') && !cluster ? await ConnectProxy.start() : undefined;

const commonEnv = { ...process.env, ...settingsEnv, TEMPORAL_ADDRESS: server.address, LOG_LEVEL: 'info', NODE_ENV: 'development' };
const logFile = fs.openSync(path.join(runDir, 'processes.log'), 'a');
const apiPort = cluster?.apiPort ?? await freeLowPort();
const profileDir = path.join(runDir, 'profile');
/** Herald as `npm start` runs it, on the run's data dir (a restart keeps its endpoints), with `extraEnv` on top of the run's settings. */
const spawnHerald = (extraEnv: Record<string, string> = {}) => {
  const child = spawn(process.execPath, [
    '--import', 'tsx', ...(flags.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), 'src/main.ts',
  ], {
    cwd: repo, stdio: ['ignore', logFile, logFile],
    env: { ...commonEnv, ...extraEnv, PORT: String(apiPort), HERALD_HOST: '127.0.0.1', HERALD_DATA_DIR: path.join(runDir, 'herald'), HERALD_METRICS_PORT: '0', HERALD_TEMPORAL_METRICS_PORT: '0' },
  });
  children.push(child);
  return child;
};
let herald = cluster ? undefined : spawnHerald();
const baseline = fork(path.join(repo, 'bench', 'baseline', 'worker.ts'), [], {
  cwd: repo, execArgv: ['--import', 'tsx'], stdio: ['ignore', logFile, logFile, 'ipc'], env: commonEnv,
});
children.push(baseline);
const baselineReady = once(baseline, 'message');
const cleanUp = async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(children.map((child) => child.exitCode === null ? once(child, 'exit') : undefined));
  await receiver.stop();
  await tokenServer?.stop();
  await egressProxy?.stop();
  await server.stop();
};
process.on('SIGINT', () => void cleanUp().finally(() => process.exit(130)));

const apiUrl = `http://127.0.0.1:${apiPort}`;
const api = new Pool(apiUrl, { connections: concurrency });
async function call(method: 'GET' | 'POST', route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await api.request({ path: route, method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}
async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 120_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await Promise.resolve().then(check).catch(() => false));) {
    if (Date.now() > deadline) throw new Error(`bench: ${what} did not happen within ${timeoutMs / 1000} s (logs: ${runDir}/processes.log)`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
await waitFor('Herald ready', async () => (await call('GET', '/readyz')).status === 200, 300_000);
await baselineReady;
const temporal = new Client({ connection: await Connection.connect({ address: server.address }) });
const running = () => temporal.workflow.count('ExecutionStatus = "Running"').then((c) => c.count);

async function endpoint(name: string, eventType: string, fields: Record<string, unknown> = {}): Promise<void> {
  const res = await call('POST', '/v1/endpoints', { url: `${receiver.url}/${name}`, eventTypes: [eventType], ...fields });
  if (res.status !== 201) throw new Error(`bench: creating endpoint ${name} answered ${res.status}: ${JSON.stringify(res.body)}`);
}
await endpoint('ok/warmup', 'bench.warmup');
await endpoint('ok/latency', 'bench.latency');
await endpoint('ok/single', 'bench.single');
if (versusEnv) await endpoint('ok/versus', 'bench.versus');
for (let i = 0; i < 5; i++) await endpoint(`ok/fanout-${i}`, 'bench.fanout');
await endpoint('flaky/retry', 'bench.retry', { retryPolicy: { schedule: ['1s', '1s'] } });
await endpoint('ok/erp', 'bench.erp');
// Traffic control, side by side with a plain endpoint on the same receiver.
await endpoint('ok/plain', 'bench.plain');
await endpoint('ok/fifo', 'bench.fifo', { ordering: 'fifo' });
await endpoint('ok/limited', 'bench.limited', { rateLimit: { perSecond: 10, burst: 10 } });
// OAuth2: the variant authenticates with a token from the bench's token server. Proxy: the plain endpoint bypasses it.
const oauth2Auth = tokenServer && { type: 'oauth2-client-credentials', tokenUrl: tokenServer.url, clientId: 'bench', clientSecret: 'bench-client-secret' };
for (const e of oauth2Auth ? reachEndpoints('oauth2') : []) await endpoint(e.name, e.eventType, e.side === 'variant' ? { auth: oauth2Auth } : {});
for (const e of egressProxy ? reachEndpoints('proxy') : []) await endpoint(e.name, e.eventType, e.side === 'plain' ? { proxy: false } : {});

// ---------- measurement helpers ----------
// On the cluster, Herald's CPU is its API's and workers' together, its memory a worker's.
const pids = { server: serverPid, herald: cluster?.workerPid ?? herald!.pid!, baseline: baseline.pid! };
const cpuNow = (): Cpu => ({
  server: cpuSeconds(pids.server), herald: cluster?.heraldCpuSeconds() ?? cpuSeconds(pids.herald), baseline: cpuSeconds(pids.baseline),
  ...(cluster ? { postgres: cluster.postgresCpuSeconds() } : { heraldMainThread: mainThreadCpuSeconds(pids.herald) }),
});
type Cpu = Record<string, number>;
/** CPU seconds each process used over a phase, and as a share of one core. */
function cpuOver(before: Cpu, seconds: number) {
  const after = cpuNow();
  return Object.fromEntries(Object.keys(after).map((k) => {
    const used = after[k]! - before[k]!;
    return [k, { seconds: round(used, 2), percentOfOneCore: round((used / seconds) * 100, 0) }];
  }));
}
const ms = (values: number[]) => ({ p50: round(percentile(values, 50)), p95: round(percentile(values, 95)), p99: round(percentile(values, 99)) });

/**
 * Posts `events` events of `eventType` (closed loop with `concurrency` in flight, or open loop at
 * `rate`/s) and waits until the receiver has every delivery on paths under `pathPrefix`.
 */
async function endToEnd(name: string, eventType: string, pathPrefix: string, events: number, deliveriesPerEvent: number, rate?: number) {
  const expected = events * deliveriesPerEvent;
  const progress = new Progress(name, expected);
  const acceptedAt = new Map<string, number>();
  const ingestMs: number[] = [];
  const refused: Record<string, number> = {};
  const cpuBefore = cpuNow();
  const started = performance.now();
  const post = async (i: number) => {
    const id = `${eventType}-${i}`;
    const sent = performance.now();
    const res = await call('POST', '/v1/events', { id, type: eventType, data: { orderId: i, total: 129.5, email: 'buyer@example.com' } });
    ingestMs.push(performance.now() - sent);
    if (res.status === 202) acceptedAt.set(messageIdFor('default', id), performance.now());
    else refused[res.status] = (refused[res.status] ?? 0) + 1;
  };
  const ticker = setInterval(() => progress.update(receiver.count(pathPrefix)), 100);
  if (rate) {
    const posts: Promise<void>[] = [];
    for (let i = 0; i < events; i++) {
      const wait = started + (i * 1000) / rate - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      posts.push(post(i));
    }
    await Promise.all(posts);
  } else {
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < events; i = next++) await post(i);
    }));
  }
  if (Object.keys(refused).length) throw new Error(`bench: ${name}: ingest refused events: ${JSON.stringify(refused)}`);
  await waitFor(`${name}: all ${expected} deliveries`, () => receiver.count(pathPrefix) >= expected, 600_000);
  clearInterval(ticker);
  const arrivals = [...receiver.delivered].filter(([key]) => key.startsWith(pathPrefix));
  const last = Math.max(...arrivals.map(([, at]) => at));
  const seconds = (last - started) / 1000;
  const firstByteMs = arrivals.map(([key, at]) => at - acceptedAt.get(key.split(' ')[1]!)!);
  const cpu = cpuOver(cpuBefore, seconds);
  await waitFor('workflows to finish', async () => (await running()) === 0, 300_000);
  const perDelivery = (process: 'server' | 'herald' | 'heraldMainThread') => cpu[process] && round((Number(cpu[process].seconds) * 1000) / expected, 1);
  const result = {
    events, deliveries: expected, seconds: round(seconds, 2),
    deliveriesPerSecond: round(expected / seconds), ingestMs: ms(ingestMs), acceptedToFirstByteMs: ms(firstByteMs), cpu,
    cpuMsPerDelivery: { server: perDelivery('server'), herald: perDelivery('herald'), heraldMainThread: perDelivery('heraldMainThread') },
    ...(await actionsPerDelivery(temporal, `WorkflowType = 'eventWorkflow' AND HeraldEventType = '${eventType}'`, deliveriesPerEvent)),
  };
  progress.finish(`${result.deliveriesPerSecond} deliveries/s, accepted→first byte p50 ${result.acceptedToFirstByteMs.p50} ms, p99 ${result.acceptedToFirstByteMs.p99} ms; ${result.actionsPerDelivery} actions and ${result.cpuMsPerDelivery.server} ms of server CPU per delivery`);
  return result;
}

async function baselineRun(count: number) {
  const progress = new Progress('baseline (no-op workflow)', count);
  const cpuBefore = cpuNow();
  baseline.send({ count, concurrency, prefix: `baseline-${Date.now()}` } satisfies BaselineBatch);
  const [{ elapsedMs }] = (await once(baseline, 'message')) as [BaselineResult];
  const seconds = elapsedMs / 1000;
  const cpu = cpuOver(cpuBefore, seconds);
  await waitFor('baseline workflows to finish', async () => (await running()) === 0, 300_000);
  const result = {
    workflows: count, seconds: round(seconds, 2), workflowsPerSecond: round(count / seconds), cpu,
    cpuMsPerWorkflow: { server: round((Number(cpu.server!.seconds) * 1000) / count, 1), baselineWorker: round((Number(cpu.baseline!.seconds) * 1000) / count, 1) },
    ...(await actionsPerDelivery(temporal, `WorkflowType = 'noopWorkflow'`, 1)),
  };
  progress.finish(`${result.workflowsPerSecond} workflows/s; ${result.actionsPerDelivery} actions and ${result.cpuMsPerWorkflow.server} ms of server CPU per workflow`);
  return result;
}

async function ingestLoad(name: string, idPrefix: string, spec: Omit<LoadSpec, 'url' | 'eventType' | 'idPrefix'>) {
  const progress = new Progress(name, spec.seconds);
  const cpuBefore = cpuNow();
  const started = Date.now();
  const ticker = setInterval(() => progress.update(Math.floor((Date.now() - started) / 1000), 's'), 250);
  const generator = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'bench', 'loadGenerator.ts'),
    JSON.stringify({ ...spec, url: apiUrl, eventType: 'bench.ingest', idPrefix } satisfies LoadSpec)], { cwd: repo, stdio: ['ignore', 'pipe', logFile] });
  let output = '';
  generator.stdout!.on('data', (chunk) => (output += chunk));
  const [code] = await once(generator, 'exit');
  clearInterval(ticker);
  if (code !== 0) throw new Error(`bench: load generator exited with ${code} (logs: ${runDir}/processes.log)`);
  const load = JSON.parse(output) as LoadResult;
  const refused = Object.entries(load.statuses).filter(([status]) => status !== '202');
  if (refused.length) throw new Error(`bench: ${name}: ingest answered other than 202: ${JSON.stringify(Object.fromEntries(refused))}`);
  const result = { ...load, offeredRate: spec.rate ?? 'saturation', connections: spec.connections, cpu: cpuOver(cpuBefore, spec.seconds) };
  progress.finish(`${load.requestsPerSecond} req/s, p50 ${load.latencyMs.p50} ms, p95 ${load.latencyMs.p95} ms, p99 ${load.latencyMs.p99} ms ${JSON.stringify(load.statuses)}`);
  await waitFor('event workflows to finish', async () => (await running()) === 0, 300_000);
  return result;
}

/** process.hrtime's clock, the one V8 stamps --cpu-prof samples with. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
/** The profiled phase (the end-to-end run to one endpoint): Herald's profiles are summarised over it alone. */
const profileWindow: ProfileWindow = { startUs: 0, endUs: 0, per: size.events };

/** Samples the Temporal server with perf (when perf can) and marks Herald's profile window while `during` runs. */
async function perfProfile<T>(during: () => Promise<T>): Promise<{ result: T; report?: string[] }> {
  if (!flags.profile) return { result: await during() };
  profileWindow.startUs = monotonicUs();
  const dataFile = path.join(runDir, 'perf.data');
  const perf = spawn('perf', ['record', '-e', 'cpu-clock', '-F', '499', '-p', String(serverPid), '-o', dataFile], { stdio: 'ignore' });
  const perfExited = once(perf, 'exit').catch(() => undefined);
  let missing = false;
  perf.on('error', () => (missing = true));
  const result = await during();
  profileWindow.endUs = monotonicUs();
  if (missing) return { result, report: ['perf is not installed (Debian: apt-get install linux-perf)'] };
  perf.kill('SIGINT');
  await perfExited;
  try {
    const report = execFileSync('perf', ['report', '-i', dataFile, '--stdio', '--no-children', '--sort', 'sym', '-g', 'none'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 << 20 });
    return { result, report: summarizePerfReport(report) };
  } catch (err) {
    return { result, report: [`perf report failed: ${(err as Error).message}`] };
  }
}

/** Stops Herald and starts it again with `extraEnv`. */
async function restartHerald(extraEnv: Record<string, string>): Promise<void> {
  const stopped = herald!;
  const exited = once(stopped, 'exit');
  stopped.kill('SIGTERM');
  await exited;
  herald = spawnHerald(extraEnv);
  pids.herald = herald.pid!;
  if (memorySampler) clearInterval(memorySampler); // the figures at the peak stay the shipped Herald's
  await waitFor('Herald ready again', async () => (await call('GET', '/readyz')).status === 200, 300_000);
}

/**
 * What Herald's resident memory is made of when it is highest: sampled each half second, and at
 * each new high its main thread's V8 heap and external memory (its own /metrics) and /proc's split.
 */
const heraldAtPeak: Record<string, number> = {};
const memorySampler = herald && setInterval(() => {
  const now = rssMiB(pids.herald);
  if (!(now > (heraldAtPeak.rss ?? 0) + 4)) return;
  heraldAtPeak.rss = now;
  void api.request({ path: '/metrics', method: 'GET' }).then(async (res) => {
    const text = await res.body.text();
    const metric = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)`, 'm'))?.[1] ?? NaN) / 2 ** 20;
    Object.assign(heraldAtPeak, {
      rss: round(now, 0), v8HeapTotal: round(metric('nodejs_heap_size_total_bytes'), 0), v8HeapUsed: round(metric('nodejs_heap_size_used_bytes'), 0),
      external: round(metric('nodejs_external_memory_bytes'), 0),
      ...Object.fromEntries(Object.entries(residentKindsMiB(pids.herald) ?? {}).map(([k, v]) => [k, round(v, 0)])),
    });
  }, () => undefined);
}, 500);

// ---------- the run ----------
const benchStarted = Date.now();
let results: Record<string, unknown>;
try {
  await endToEnd('warm-up', 'bench.warmup', '/ok/warmup', 100, 1);
  const latency = runs('latency') ? await endToEnd('latency at a light load', 'bench.latency', '/ok/latency', size.latencyRate * size.latencySeconds, 1, size.latencyRate) : undefined;
  const baselineResult = runs('baseline') ? await baselineRun(size.events) : undefined;
  const { result: single, report: serverProfile } = runs('single') ? await perfProfile(() => endToEnd('end to end, 1 endpoint', 'bench.single', '/ok/single', size.events, 1)) : { result: undefined, report: undefined };
  const fanout = runs('fanout') ? await endToEnd('end to end, 5 endpoints', 'bench.fanout', '/ok/fanout-', size.fanoutEvents, 5) : undefined;
  const retry = runs('retry') ? await endToEnd('retry load (fail twice)', 'bench.retry', '/flaky/retry', size.retries, 1) : undefined;
  const erp = runs('erp')
    ? await endToEnd('1,000 deliveries a minute (ERP target)', 'bench.erp', '/ok/erp', Math.round(ERP_RATE_PER_SECOND * size.erpSeconds), 1, ERP_RATE_PER_SECOND)
    : undefined;
  const traffic = runs('traffic') ? {
    plain: await endToEnd('plain endpoint', 'bench.plain', '/ok/plain', size.trafficEvents, 1),
    fifo: await endToEnd('fifo endpoint', 'bench.fifo', '/ok/fifo', size.trafficEvents, 1),
    rateLimited: await endToEnd('rate-limited endpoint (10/s, burst 10)', 'bench.limited', '/ok/limited', size.trafficEvents, 1),
  } : undefined;
  const sideBySide = (e: ReturnType<typeof reachEndpoints>[number]) => endToEnd(`${e.phase}: ${e.side} endpoint, round ${e.round}`, e.eventType, `/${e.name}`, size.events, 1);
  const oauth2 = tokenServer ? { ...(await besidePlain('oauth2', sideBySide)), tokenRequests: tokenServer.requests() } : undefined;
  const ingestFixed = runs('ingest') ? await ingestLoad(`ingest at ${size.ingestRate} req/s`, 'ingest-fixed', { seconds: size.ingestSeconds, connections: concurrency, rate: size.ingestRate }) : undefined;
  const ingestSaturated = runs('ingest') ? await ingestLoad('ingest at saturation', 'ingest-saturation', { seconds: size.ingestSeconds, connections: concurrency }) : undefined;
  // Last, so that the shipped Herald's figures (its peak memory above all) cover every other phase.
  const shippedHeraldPeakRssMiB = peakRssMiB(pids.herald);
  // Herald restarted with HERALD_EGRESS_PROXY: the variant goes through it, the plain endpoint (proxy: false) past it.
  let proxied;
  if (egressProxy) {
    await restartHerald({ HERALD_EGRESS_PROXY: egressProxy.url() });
    proxied = { ...(await besidePlain('proxy', sideBySide)), tunnels: egressProxy.connects.length };
  }
  let versus;
  if (versusEnv && !cluster) {
    await restartHerald(versusEnv);
    const result = await endToEnd(`end to end, 1 endpoint, ${flags.versus}`, 'bench.versus', '/ok/versus', size.events, 1);
    versus = { settings: versusEnv, oneEndpoint: result, peakRssMiB: round(peakRssMiB(pids.herald), 0) };
  }
  const ratio = (deliveriesPerSecond?: number | null) => deliveriesPerSecond && baselineResult?.workflowsPerSecond ? round(deliveriesPerSecond / baselineResult.workflowsPerSecond, 2) : undefined;
  results = {
    label, date: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: round(os.totalmem() / 2 ** 30, 0), node: process.version, os: `${os.type()} ${os.release()}`, loadAverageAtEnd: os.loadavg().map((l) => round(l, 2)) },
    size: flags.size, concurrency, settings,
    ingest: { fixedRate: ingestFixed, saturation: ingestSaturated },
    endToEnd: { lightLoad: latency, oneEndpoint: single, fiveEndpoints: fanout, erpRate: erp },
    baseline: baselineResult,
    ratioToBaseline: { oneEndpoint: ratio(single?.deliveriesPerSecond), fiveEndpoints: ratio(fanout?.deliveriesPerSecond), ...(versus && { versus: ratio(versus.oneEndpoint.deliveriesPerSecond) }) },
    ...(versus && { versus: { ...versus, deliveriesPerSecondRatioToShipped: versus.oneEndpoint.deliveriesPerSecond && single?.deliveriesPerSecond ? round(versus.oneEndpoint.deliveriesPerSecond / single.deliveriesPerSecond, 2) : undefined } }),
    retryLoad: retry,
    traffic,
    reach: { oauth2, egressProxy: proxied },
    peakRssMiB: { herald: round(shippedHeraldPeakRssMiB, 0), baselineWorker: round(peakRssMiB(pids.baseline), 0), temporalServer: round(peakRssMiB(pids.server), 0) },
    heraldAtPeakMiB: heraldAtPeak,
    rssAtEndMiB: { herald: round(rssMiB(pids.herald), 0), baselineWorker: round(rssMiB(pids.baseline), 0), temporalServer: round(rssMiB(pids.server), 0) },
    wallSeconds: round((Date.now() - benchStarted) / 1000, 0),
    ...(serverProfile && { temporalServerProfile: serverProfile }),
  };
} catch (err) {
  log(String((err as Error).message ?? err));
  await cleanUp();
  process.exit(1);
}
if (memorySampler) clearInterval(memorySampler);
await api.close();
await temporal.connection.close();
await cleanUp();
if (flags.profile) results.heraldProfile = summarizeCpuProfiles(profileDir, profileWindow);

fs.mkdirSync(resultsDir, { recursive: true });
const resultFile = path.join(resultsDir, `${label}.json`);
fs.writeFileSync(resultFile, `${JSON.stringify(results, null, 2)}\n`);
printTable(results as any);
log(`\nresults: ${path.relative(process.cwd(), resultFile)}`);
fs.rmSync(runDir, { recursive: true, force: true });

function printTable(r: any): void {
  const latencies = (l: any) => `p50 ${l.p50} / p95 ${l.p95} / p99 ${l.p99} ms`;
  const delivered = (e: any) => `${e.deliveriesPerSecond} deliveries/s; accepted → first byte ${latencies(e.acceptedToFirstByteMs)}`;
  const rows = ([
    ['ingest, fixed rate', r.ingest.fixedRate && `${r.ingest.fixedRate.requestsPerSecond} req/s (offered ${r.ingest.fixedRate.offeredRate}/s); ${latencies(r.ingest.fixedRate.latencyMs)}`],
    ['ingest, saturation', r.ingest.saturation && `${r.ingest.saturation.requestsPerSecond} req/s; ${latencies(r.ingest.saturation.latencyMs)}`],
    ['end to end, light load', r.endToEnd.lightLoad && delivered(r.endToEnd.lightLoad)],
    ['end to end, 1 endpoint', r.endToEnd.oneEndpoint && delivered(r.endToEnd.oneEndpoint)],
    [`end to end, 1 endpoint, versus`, r.versus && `${delivered(r.versus.oneEndpoint)}; ×${r.versus.deliveriesPerSecondRatioToShipped} the shipped settings; Herald CPU ${r.versus.oneEndpoint.cpuMsPerDelivery.herald} ms, server ${r.versus.oneEndpoint.cpuMsPerDelivery.server} ms per delivery; ${r.versus.oneEndpoint.actionsPerDelivery} actions (${r.versus.oneEndpoint.workflowTasksPerDelivery} workflow tasks); attempts with a summary ${r.versus.oneEndpoint.attemptsShownWithSummary}`],
    ['end to end, 5 endpoints', r.endToEnd.fiveEndpoints && delivered(r.endToEnd.fiveEndpoints)],
    ['1,000 deliveries/min (ERP)', r.endToEnd.erpRate && delivered(r.endToEnd.erpRate)],
    ['baseline (no-op workflow)', r.baseline && `${r.baseline.workflowsPerSecond} workflows/s; ${r.baseline.actionsPerDelivery} actions, ${r.baseline.cpuMsPerWorkflow.server} ms server CPU per workflow`],
    ['actions per delivery', [['1 endpoint', r.endToEnd.oneEndpoint], ['5 endpoints', r.endToEnd.fiveEndpoints], ['fails twice', r.retryLoad]]
      .filter(([, e]) => e).map(([name, e]) => `${name} ${e.actionsPerDelivery} (${e.workflowTasksPerDelivery} workflow tasks)`).join(', ')],
    ['server CPU per delivery', [['1 endpoint', r.endToEnd.oneEndpoint], ['5 endpoints', r.endToEnd.fiveEndpoints], ['fails twice', r.retryLoad]]
      .filter(([, e]) => e).map(([name, e]) => `${name} ${e.cpuMsPerDelivery.server} ms`).join(', ')],
    ['Herald CPU per delivery (main thread)', [['1 endpoint', r.endToEnd.oneEndpoint], ['5 endpoints', r.endToEnd.fiveEndpoints], ['fails twice', r.retryLoad]]
      .filter(([, e]) => e).map(([name, e]) => `${name} ${e.cpuMsPerDelivery.herald} ms${e.cpuMsPerDelivery.heraldMainThread === undefined ? '' : ` (${e.cpuMsPerDelivery.heraldMainThread})`}`).join(', ')
      + (r.baseline ? `; baseline worker ${r.baseline.cpuMsPerWorkflow.baselineWorker} ms per workflow` : '')],
    ['ratio to baseline', r.baseline && `1 endpoint ${r.ratioToBaseline.oneEndpoint ?? '-'}, 5 endpoints ${r.ratioToBaseline.fiveEndpoints ?? '-'}`],
    ['retry load', r.retryLoad && `${r.retryLoad.deliveries} deliveries × 3 attempts in ${r.retryLoad.seconds} s; server ${r.retryLoad.cpu.server.percentOfOneCore}% of a core, Herald ${r.retryLoad.cpu.herald.percentOfOneCore}%`],
    ...(['oauth2', 'egressProxy'] as const).map((k) => [`${k === 'oauth2' ? 'oauth2 (cached token)' : 'egress proxy'} beside plain`, r.reach[k]
      && `${r.reach[k].variantDeliveriesPerSecond} vs ${r.reach[k].plainDeliveriesPerSecond} deliveries/s: ×${r.reach[k].ratioToPlain} (rounds ${r.reach[k].runs.map((run: any) => `${run.side} ${run.deliveriesPerSecond}`).join(', ')}); Herald CPU ${r.reach[k].heraldCpuMsPerDelivery.variant} vs ${r.reach[k].heraldCpuMsPerDelivery.plain} ms per delivery; ${k === 'oauth2' ? `${r.reach[k].tokenRequests} token requests` : `${r.reach[k].tunnels} tunnels`}`]),
    ['traffic control (deliveries/s)', r.traffic && ['plain', 'fifo', 'rateLimited'].map((k) => `${k} ${r.traffic[k].deliveriesPerSecond}`).join(', ')],
    ['peak RSS (at the end)', ['herald', 'baselineWorker', 'temporalServer'].map((p) => `${p} ${r.peakRssMiB[p]} (${r.rssAtEndMiB[p]}) MiB`).join(', ')],
    ['wall time', `${r.wallSeconds} s`],
  ] as [string, string | undefined][]).filter((row): row is [string, string] => Boolean(row[1]));
  console.log(`\nHerald benchmark (${r.size}, concurrency ${r.concurrency}, ${JSON.stringify(r.settings)})`);
  for (const [name, value] of rows) console.log(`  ${name.padEnd(36)} ${value}`);
}
