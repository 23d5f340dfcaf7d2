/**
 * `npm run bench -- --cluster`: the benchmark's phases on the topology of `npm run cluster`
 * (Temporal multi-service on PostgreSQL, Herald's API and worker processes on PostgreSQL), once
 * with 1 and once with 2 worker processes, each run with its own bare baseline on the same cluster.
 * bench/run.ts does the measuring; this file provides the system under test and the side-by-side table.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../src/logger.ts';
import { freeLowPort, freePort } from '../ops/ports.ts';
import { startCluster } from '../ops/topology.ts';
import { cpuSeconds } from './processStats.ts';

export interface ClusterUnderTest {
  temporalAddress: string;
  serverPid: number;
  apiPort: number;
  /** A worker's pid, for its memory figures. */
  workerPid: number;
  /** CPU seconds used so far by Herald's processes (API and workers) together. */
  heraldCpuSeconds(): number;
  /** CPU seconds used so far by both PostgreSQL servers and their backends. */
  postgresCpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * A fresh cluster in a temp dir of its own (PostgreSQL's user must enter it: not under the benchmark's
 * 0700 run dir) on free ports, headless, with `env` (the benchmark's HERALD_* settings) in every Herald process.
 */
export async function clusterUnderTest(opts: { workers: number; env: Record<string, string> }): Promise<ClusterUnderTest> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-bench-cluster-'));
  const membership = [await freeLowPort(), await freeLowPort(), await freeLowPort(), await freeLowPort()] as [number, number, number, number];
  const workerPorts: [number, number][] = [];
  for (let i = 0; i < opts.workers; i += 1) workerPorts.push([await freePort(), await freePort()]);
  const apiPort = await freePort();
  const cluster = await startCluster({
    dir, cacheDir: process.env.HERALD_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'herald'),
    workers: opts.workers, headless: true, logger: createLogger('warn'),
    heraldEnv: { ...opts.env, LOG_LEVEL: 'info', NODE_ENV: 'development' },
    ports: {
      api: apiPort, webUi: 0, temporalDb: await freePort(), heraldDb: await freePort(),
      temporal: { frontend: await freePort(), frontendHttp: await freePort(), history: await freePort(), matching: await freePort(), worker: await freePort(), membership, metrics: await freePort() },
      workerMetrics: (i) => workerPorts[i]!,
    },
  });
  const heraldPids = [cluster.api, ...cluster.workers].map((p) => p.pid()!);
  const postmasters = [cluster.temporalDb.pid()!, cluster.heraldDb.pid()!];
  return {
    temporalAddress: cluster.temporal.address,
    serverPid: cluster.temporal.pid()!,
    apiPort,
    workerPid: cluster.workers[0]!.pid()!,
    heraldCpuSeconds: () => heraldPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    // Backends come and go with connections: count them while alive, and what ended through the postmaster's children totals.
    postgresCpuSeconds: () => postmasters.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0),
    async stop() {
      await cluster.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds of a process, its living children and (cutime, cstime) the children it has reaped. */
function treeCpuSeconds(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const reaped = (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
    const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return cpuSeconds(pid) + reaped + children.reduce((sum, child) => sum + cpuSeconds(child), 0);
  } catch {
    return 0;
  }
}

/**
 * Runs bench/run.ts with --cluster-workers 1, then 2 (the other flags passed on), and prints their
 * figures side by side with where the CPU went; writes bench/results/<label>-cluster.json.
 */
export async function benchCluster(args: string[]): Promise<number> {
  const label = labelOf(args) ?? new Date().toISOString().replace(/[:.]/g, '-');
  const passOn = withoutFlag(withoutFlag(args, '--cluster', false), '--label', true);
  const runs: Record<string, any> = {};
  for (const workers of [1, 2]) {
    const runLabel = `${label}-cluster-${workers}w`;
    process.stderr.write(`\nbench --cluster: ${workers} worker process${workers > 1 ? 'es' : ''}\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'run.ts'), ...passOn, '--cluster-workers', String(workers), '--label', runLabel], { stdio: 'inherit' });
    const [code] = await once(child, 'exit');
    if (code !== 0) return code ?? 1;
    runs[`${workers}w`] = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, 'results', `${runLabel}.json`), 'utf8'));
  }
  const file = path.join(import.meta.dirname, 'results', `${label}-cluster.json`);
  fs.writeFileSync(file, `${JSON.stringify(runs, null, 2)}\n`);
  printComparison(runs);
  process.stderr.write(`\nresults: ${path.relative(process.cwd(), file)}\n`);
  return 0;
}

function labelOf(args: string[]): string | undefined {
  const i = args.indexOf('--label');
  return i >= 0 ? args[i + 1] : args.find((a) => a.startsWith('--label='))?.slice('--label='.length);
}

function withoutFlag(args: string[], flag: string, takesValue: boolean): string[] {
  return args.filter((a, i) => a !== flag && !a.startsWith(`${flag}=`) && !(takesValue && args[i - 1] === flag));
}

function printComparison(runs: Record<string, any>): void {
  const cells = (pick: (r: any) => string | undefined) => Object.values(runs).map((r) => (pick(r) ?? '-').padEnd(34)).join(' ');
  const delivered = (e: any) => e && `${e.deliveriesPerSecond}/s, p50 ${e.acceptedToFirstByteMs.p50} ms`;
  /** Where the time went in the one-endpoint phase: CPU seconds per delivery of each part. */
  const perDelivery = (e: any, part: string) => e?.cpu[part] && `${Math.round((e.cpu[part].seconds / e.deliveries) * 1000 * 10) / 10} ms (${e.cpu[part].percentOfOneCore}% of a core)`;
  const rows: [string, (r: any) => string | undefined][] = [
    ['ingest, saturation', (r) => r.ingest.saturation && `${r.ingest.saturation.requestsPerSecond} req/s, p50 ${r.ingest.saturation.latencyMs.p50} ms`],
    ['end to end, light load', (r) => delivered(r.endToEnd.lightLoad)],
    ['end to end, 1 endpoint', (r) => delivered(r.endToEnd.oneEndpoint)],
    ['end to end, 5 endpoints', (r) => delivered(r.endToEnd.fiveEndpoints)],
    ['baseline (no-op workflow)', (r) => r.baseline && `${r.baseline.workflowsPerSecond} workflows/s`],
    ['ratio to baseline (1 / 5 endpoints)', (r) => `${r.ratioToBaseline.oneEndpoint ?? '-'} / ${r.ratioToBaseline.fiveEndpoints ?? '-'}`],
    ['CPU per delivery: Temporal server', (r) => perDelivery(r.endToEnd.oneEndpoint, 'server')],
    ['CPU per delivery: PostgreSQL', (r) => perDelivery(r.endToEnd.oneEndpoint, 'postgres')],
    ['CPU per delivery: Herald (API+workers)', (r) => perDelivery(r.endToEnd.oneEndpoint, 'herald')],
  ];
  console.log(`\nHerald on the cluster (${Object.values(runs)[0].size}); columns: ${Object.keys(runs).map((k) => `${k.replace('w', '')} worker process(es)`).join(', ')}`);
  for (const [name, pick] of rows) console.log(`  ${name.padEnd(40)} ${cells(pick)}`);
}
