import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { portHolder } from '../src/listeningSockets.ts';
import { createLogger } from '../src/logger.ts';
import { type ClusterPorts, clusterDefaults, startCluster } from './topology.ts';

/** docker-compose.yml's published ports (API, Temporal, Web UI), the rest as Temporal's development config has them. */
const defaultPorts: ClusterPorts = {
  api: 3000,
  webUi: 8080,
  temporal: { frontend: 7233, frontendHttp: 7243, history: 7234, matching: 7235, worker: 7239, membership: [6933, 6934, 6935, 6939], metrics: 8000 },
  temporalDb: 5433,
  heraldDb: 5434,
  workerMetrics: (i) => [9464 + 2 * i, 9465 + 2 * i],
};

const options = z.object({
  workers: z.coerce.number().int().min(1).max(16).default(clusterDefaults.workers),
  shards: z.coerce.number().int().min(1).max(1024).default(clusterDefaults.historyShards),
  dir: z.string().min(1).default(process.env.HERALD_CLUSTER_DIR ?? './data/cluster'),
  host: z.string().min(1).default(clusterDefaults.host),
});

const usage = `usage: npm run cluster -- [--workers N] [--shards N] [--dir DIR] [--host ADDRESS]
  --workers  Herald worker processes (default ${clusterDefaults.workers})
  --shards   Temporal history shards, fixed when the cluster's database is created (default ${clusterDefaults.historyShards})
  --dir      databases, configuration and logs (default $HERALD_CLUSTER_DIR or ./data/cluster)
  --host     where the Web UI and Herald's API listen (default ${clusterDefaults.host}); the Web UI has no
             authentication, and Herald needs HERALD_API_KEY beyond loopback. The rest stays on 127.0.0.1`;

/** `npm run cluster`: the docker-compose.yml topology on this machine, without Docker, until Ctrl-C. */
async function main(): Promise<void> {
  let args;
  try {
    const { values } = parseArgs({ options: { workers: { type: 'string' }, shards: { type: 'string' }, dir: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean' } } });
    if (values.help) {
      console.log(usage);
      return;
    }
    args = options.parse(values);
  } catch (err) {
    const message = err instanceof z.ZodError ? err.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n') : String(err instanceof Error ? err.message : err);
    console.error(`${message}\n${usage}`);
    process.exit(2);
  }
  const logger = createLogger(process.env.LOG_LEVEL ?? 'info');
  const ports = defaultPorts;
  const busy = await busyPorts([ports.api, ports.webUi, ports.temporalDb, ports.heraldDb, ...Object.values(ports.temporal).flat(),
    ...Array.from({ length: args.workers }, (_, i) => ports.workerMetrics(i)).flat()]);
  if (busy.length) {
    const held = busy.map((port) => {
      const holder = portHolder(port);
      return holder ? `${port} (pid ${holder.pid}: ${holder.command})` : String(port);
    });
    throw new Error(`ports ${held.join(', ')} on 127.0.0.1 are in use (another cluster, npm start or docker compose?): stop what holds them`);
  }
  const dir = path.resolve(args.dir);
  const cluster = await startCluster({
    dir, cacheDir: process.env.HERALD_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'herald'), ports,
    workers: args.workers, historyShards: args.shards, host: args.host, logger, heraldEnv: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
  });
  const { heraldDb: hdb } = clusterDefaults;
  const withoutPassword = (url: string) => Object.assign(new URL(url), { password: '***' }).href;
  console.log(`
Herald cluster up (${dir}):
  Herald API        ${cluster.apiUrl}            log: ${cluster.api.logFile}
  Herald workers    ${cluster.workers.length} processes, metrics on ${cluster.workers.map((w) => new URL(w.readyUrl).port).join(', ')}; logs: ${path.dirname(cluster.api.logFile)}/herald-worker-*.log
  Temporal          ${cluster.temporal.address} (frontend, history, matching, worker; ${args.shards} history shards)   log: ${path.join(dir, 'temporal', 'temporal-server.log')}
  Temporal Web UI   ${cluster.webUi?.url ?? "not built: run 'npm run provision -- ui-server'"}
  Temporal's DB     ${withoutPassword(cluster.temporalDb.url('temporal'))}
  Herald's DB       ${withoutPassword(cluster.heraldDb.url(hdb.database))}
  DB passwords      ${path.join(dir, 'credentials.json')} (this cluster's own; 0600)
Ctrl-C stops everything; the data stays in ${dir}.
`);
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  logger.info('stopping the cluster: Herald first, then Temporal and PostgreSQL');
  await cluster.stop();
}

async function busyPorts(candidates: number[]): Promise<number[]> {
  const busy: number[] = [];
  for (const port of candidates) {
    const server = net.createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (!free) busy.push(port);
  }
  return busy;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`herald cluster: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
