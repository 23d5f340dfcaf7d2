import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../src/logger.ts';
import { clusterPasswords } from './credentials.ts';
import { heraldRole, type HeraldRole } from './herald.ts';
import { makePrivateDir, type Postgres, startPostgres } from './postgres.ts';
import { registerHeraldNamespace, startTemporalServer, type TemporalPorts, type TemporalServer } from './temporal.ts';
import { startWebUi, type WebUi } from './ui.ts';

/**
 * The services of `npm run cluster`, named as in docker-compose.yml, each with the services it
 * waits for; test/unit/dockerCompose.test.ts checks that Compose describes the same.
 */
export const clusterServices = {
  'temporal-db': [],
  'herald-db': [],
  temporal: ['temporal-db'],
  'temporal-search-attributes': ['temporal'],
  'temporal-ui': ['temporal'],
  'herald-api': ['herald-db', 'temporal-search-attributes'],
  'herald-worker': ['herald-db', 'temporal-search-attributes'],
} as const satisfies Record<string, readonly string[]>;

type ServiceName = keyof typeof clusterServices;

/** What the cluster waits on before a Herald process counts as up: the paths Compose's health checks probe. */
export const readinessPaths = { 'herald-api': '/readyz', 'herald-worker': '/healthz' } as const;

/** The settings both `npm run cluster` and docker-compose.yml use. */
export const clusterDefaults = {
  historyShards: 8,
  workers: 2,
  namespace: 'default',
  retentionDays: 7,
  /** Temporal's PostgreSQL user (the Compose `temporal-db`); its password is the cluster directory's own. */
  temporalDb: { user: 'temporal' },
  /** Herald's PostgreSQL user and database (the Compose `herald-db`); its password is the cluster directory's own. */
  heraldDb: { user: 'herald', database: 'herald' },
  /** Where the Web UI and Herald's API listen unless asked otherwise; everything else listens there always. */
  host: '127.0.0.1',
};

export interface ClusterPorts {
  api: number;
  webUi: number;
  temporal: TemporalPorts;
  temporalDb: number;
  heraldDb: number;
  /** One per worker: its metrics and its Temporal SDK metrics. */
  workerMetrics: (index: number) => [number, number];
}

export interface ClusterOptions {
  /** Databases, configuration and logs; kept between runs (data survives a restart). */
  dir: string;
  /** Where scripts/provision.sh put the Temporal server (and, optionally, the Web UI server). */
  cacheDir: string;
  ports: ClusterPorts;
  workers?: number;
  historyShards?: number;
  /** No Web UI, even when provisioned (tests, the chaos soak). */
  headless?: boolean;
  /**
   * Where the Web UI and Herald's API listen (default 127.0.0.1). The Web UI has no authentication
   * and can terminate, reset and signal workflows; Herald refuses a non-loopback address without HERALD_API_KEY.
   */
  host?: string;
  /** Added to every Herald process's environment (HERALD_API_KEY, LOG_LEVEL, …). */
  heraldEnv?: Record<string, string>;
  logger: Logger;
}

export interface Cluster {
  temporalDb: Postgres;
  heraldDb: Postgres;
  temporal: TemporalServer;
  webUi?: WebUi;
  api: HeraldRole;
  workers: HeraldRole[];
  apiUrl: string;
  /** Herald's processes first (draining), then the Web UI, Temporal and the databases. */
  stop(): Promise<void>;
}

/**
 * Brings up the topology of docker-compose.yml on this machine without Docker: two PostgreSQL 16
 * servers, the Temporal server on one, Herald's namespace and search attributes, the Web UI, Herald's
 * API and `workers` worker processes on the other; each service starts once those it waits for are up.
 */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const { ports, logger } = opts;
  const historyShards = opts.historyShards ?? clusterDefaults.historyShards;
  const workerCount = opts.workers ?? clusterDefaults.workers;
  const host = opts.host ?? clusterDefaults.host;
  // It holds the databases' passwords and everything Herald and Temporal store.
  makePrivateDir(opts.dir);
  const logs = path.join(opts.dir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const { passwords, fixed } = clusterPasswords(opts.dir);
  if (fixed) logger.warn({ dir: opts.dir }, "this cluster's databases were created with the fixed passwords 'temporal' and 'herald'; a new cluster directory gets generated ones");
  const { namespace } = clusterDefaults;
  const tdb = { ...clusterDefaults.temporalDb, password: passwords.temporalDb };
  const hdb = { ...clusterDefaults.heraldDb, password: passwords.heraldDb };
  const heraldDatabaseUrl = `postgres://${hdb.user}:${encodeURIComponent(hdb.password)}@127.0.0.1:${ports.heraldDb}/${hdb.database}`;
  const temporalAddress = `127.0.0.1:${ports.temporal.frontend}`;
  const apiUrl = `http://127.0.0.1:${ports.api}`;
  const heraldEnv = (extra: Record<string, string>) => ({
    TEMPORAL_ADDRESS: temporalAddress, TEMPORAL_NAMESPACE: namespace, DATABASE_URL: heraldDatabaseUrl,
    HERALD_HOST: '127.0.0.1', HERALD_DATA_DIR: path.join(opts.dir, 'herald'), ...opts.heraldEnv, ...extra,
  });
  const api = heraldRole('herald-api', 'api', heraldEnv({ PORT: String(ports.api), HERALD_HOST: host }), `${apiUrl}${readinessPaths['herald-api']}`, path.join(logs, 'herald-api.log'));
  const workers = Array.from({ length: workerCount }, (_, i) => {
    const [metrics, sdkMetrics] = ports.workerMetrics(i);
    return heraldRole(`herald-worker-${i + 1}`, 'worker', heraldEnv({ HERALD_METRICS_PORT: String(metrics), HERALD_TEMPORAL_METRICS_PORT: String(sdkMetrics) }),
      `http://127.0.0.1:${metrics}${readinessPaths['herald-worker']}`, path.join(logs, `herald-worker-${i + 1}.log`));
  });

  const started: Partial<Record<ServiceName, unknown>> = {};
  const stops: (() => Promise<unknown> | void)[] = [];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) await Promise.resolve(step()).catch((err) => logger.error({ err }, 'error while stopping the cluster'));
  };
  const steps: Record<ServiceName, () => Promise<unknown>> = {
    'temporal-db': async () => {
      const db = await startPostgres({ dir: path.join(opts.dir, 'temporal-db'), port: ports.temporalDb, ...tdb, durable: true });
      stops.push(db.stop);
      return db;
    },
    'herald-db': async () => {
      const db = await startPostgres({ dir: path.join(opts.dir, 'herald-db'), port: ports.heraldDb, ...hdb, durable: true });
      stops.push(db.stop);
      await db.createDatabase(hdb.database);
      return db;
    },
    temporal: async () => {
      const server = await startTemporalServer({
        cacheDir: opts.cacheDir, dir: path.join(opts.dir, 'temporal'), ports: ports.temporal, historyShards,
        db: { port: ports.temporalDb, ...tdb },
      });
      stops.push(() => server.kill('SIGTERM'));
      return server;
    },
    'temporal-search-attributes': () => registerHeraldNamespace(temporalAddress, namespace, clusterDefaults.retentionDays),
    'temporal-ui': async () => {
      if (opts.headless) return undefined;
      const ui = await startWebUi({ cacheDir: opts.cacheDir, dir: path.join(opts.dir, 'web-ui'), host, port: ports.webUi, temporalAddress });
      if (ui) stops.push(ui.stop);
      return ui;
    },
    'herald-api': async () => {
      stops.push(() => api.kill('SIGTERM'));
      await api.start();
    },
    'herald-worker': () => Promise.all(workers.map(async (worker) => {
      stops.push(() => worker.kill('SIGTERM'));
      await worker.start();
    })),
  };
  try {
    await startInOrder(steps, (name, ms) => logger.info({ service: name, seconds: Math.round(ms / 100) / 10 }, 'cluster service up'), started);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    temporalDb: started['temporal-db'] as Postgres,
    heraldDb: started['herald-db'] as Postgres,
    temporal: started.temporal as TemporalServer,
    webUi: started['temporal-ui'] as WebUi | undefined,
    api, workers, apiUrl, stop,
  };
}

/** Starts every service as soon as all it waits for (clusterServices) are up; fails with the first failure. */
async function startInOrder(
  steps: Record<ServiceName, () => Promise<unknown>>,
  onUp: (name: ServiceName, ms: number) => void,
  started: Partial<Record<ServiceName, unknown>>,
): Promise<void> {
  const running = new Map<ServiceName, Promise<void>>();
  const run = (name: ServiceName): Promise<void> => {
    let promise = running.get(name);
    if (!promise) {
      promise = Promise.all(clusterServices[name].map(run)).then(async () => {
        const since = Date.now();
        started[name] = await steps[name]();
        onUp(name, Date.now() - since);
      });
      running.set(name, promise);
    }
    return promise;
  };
  // Settled, not raced: a failure stops the cluster only after every step under way has registered its stop.
  const results = await Promise.allSettled((Object.keys(clusterServices) as ServiceName[]).map(run));
  const failure = results.find((r) => r.status === 'rejected');
  if (failure) throw failure.reason;
}
