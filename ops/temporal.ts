import { type ChildProcess, execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import proto from '@temporalio/proto';
import pg from 'pg';
import { stringify } from 'yaml';
import { heraldSearchAttributes } from '../workflows/contract.ts';
import { waitFor } from './wait.ts';
import { spawnTiedToThisProcess } from '../src/processWatchdog.ts';

export interface TemporalPorts {
  /** The frontend's gRPC port: what workers, the API and the CLI connect to. */
  frontend: number;
  frontendHttp: number;
  history: number;
  matching: number;
  worker: number;
  /** One membership (ringpop) port per service, in the order frontend, history, matching, worker; below 32768 (Temporal stores them as smallint). */
  membership: [number, number, number, number];
  /** Prometheus metrics of all four services. */
  metrics: number;
}

export interface TemporalServerOptions {
  /** Where scripts/provision.sh put the server, its SQL tool and schema (`temporal-server`). */
  cacheDir: string;
  /** Config, dynamic config and log. */
  dir: string;
  /** Temporal's PostgreSQL; its databases `temporal` and `temporal_visibility` are created when missing. */
  db: { port: number; user: string; password: string };
  ports: TemporalPorts;
  historyShards: number;
}

export interface TemporalServer {
  address: string;
  /** Starts the server again after kill() (same config, database and ports) and waits until it serves. */
  start(): Promise<void>;
  /** Ends the server process with `signal` (SIGTERM drains, SIGKILL is a crash) and waits for its exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
  pid(): number | undefined;
}

/** What every Temporal installation Herald runs on sets (docker-compose.yml mounts the same file). */
export const DYNAMIC_CONFIG_FILE = new URL('./dynamicconfig.yaml', import.meta.url);
const SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;

/**
 * The Temporal server as a real installation: one process running the frontend, history, matching
 * and internal worker services on PostgreSQL (the schema applied by Temporal's own SQL tool), with
 * `historyShards` history shards. Answers once it serves its system namespace.
 */
export async function startTemporalServer(opts: TemporalServerOptions): Promise<TemporalServer> {
  const home = path.join(opts.cacheDir, 'temporal-server');
  const binary = path.join(home, 'server');
  const sqlTool = path.join(home, 'temporal-sql-tool');
  for (const file of [binary, sqlTool, path.join(home, 'schema', 'postgresql')]) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run 'npm run provision -- cluster' (needs Go) to build the Temporal server`);
  }
  await applySchema(sqlTool, path.join(home, 'schema', 'postgresql', 'v12'), opts);
  const configDir = path.join(opts.dir, 'config');
  fs.mkdirSync(path.join(configDir, 'dynamicconfig'), { recursive: true });
  fs.copyFileSync(DYNAMIC_CONFIG_FILE, path.join(configDir, 'dynamicconfig', 'herald.yaml'));
  fs.writeFileSync(path.join(configDir, 'development.yaml'), stringify(serverConfig(opts)));
  const logFile = path.join(opts.dir, 'temporal-server.log');
  const address = `127.0.0.1:${opts.ports.frontend}`;
  let child: ChildProcess | undefined;

  const start = async () => {
    const log = fs.openSync(logFile, 'a');
    const server = spawnTiedToThisProcess(binary, ['--root', opts.dir, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start',
      ...SERVICES.flatMap((s) => ['--service', s])], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    child = server;
    await waitFor(`the Temporal server to serve (log: ${logFile})`, async () => {
      if (server.exitCode !== null) throw new Error(`the Temporal server exited with code ${server.exitCode}; see ${logFile}`);
      return withConnection(address, (connection) => connection.workflowService.describeNamespace({ namespace: 'temporal-system' }));
    }, 180_000, 500);
  };
  const kill = async (signal: NodeJS.Signals) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  };
  await start();
  return { address, start, kill, pid: () => child?.pid };
}

/** Creates the two databases and brings their schema to the server's version, as the auto-setup image does. */
async function applySchema(sqlTool: string, schemaDir: string, opts: TemporalServerOptions): Promise<void> {
  const { port, user, password } = opts.db;
  for (const [database, schema] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
    const tool = (...args: string[]) => promisify(execFile)(sqlTool, [
      '--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(port), '-u', user, '--pw', password, '--db', database, ...args,
    ]).catch((err: { stderr?: string }) => {
      throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed: ${err.stderr?.trim() || String(err)}`);
    });
    const admin = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres' });
    await admin.connect();
    const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount;
    await admin.end();
    if (!exists) {
      await tool('create-database');
      await tool('setup-schema', '-v', '0.0');
    }
    // Applies only the versions above the database's: a no-op once current.
    await tool('update-schema', '-d', path.join(schemaDir, schema, 'versioned'));
  }
}

/** development-postgres12.yaml from the server's sources, with Herald's ports, shards and no archival. */
function serverConfig(opts: TemporalServerOptions) {
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12', databaseName, connectAddr: `127.0.0.1:${opts.db.port}`, connectProtocol: 'tcp',
      user: opts.db.user, password: opts.db.password, maxConns, maxIdleConns: maxConns, maxConnLifetime: '1h',
    },
  });
  const { ports } = opts;
  const rpc = (grpcPort: number, membershipPort: number, extra: Record<string, unknown> = {}) => ({
    rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      // Fixed when the database is created: changing it later means a new database.
      numHistoryShards: opts.historyShards,
      datastores: { 'postgres-default': store('temporal', 20), 'postgres-visibility': store('temporal_visibility', 10) },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      metrics: { prometheus: { framework: 'tally', timerType: 'histogram', listenAddress: `127.0.0.1:${ports.metrics}` } },
    },
    services: {
      frontend: rpc(ports.frontend, ports.membership[0], { httpPort: ports.frontendHttp }),
      history: rpc(ports.history, ports.membership[1]),
      matching: rpc(ports.matching, ports.membership[2]),
      worker: rpc(ports.worker, ports.membership[3]),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${ports.frontend}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: path.join(opts.dir, 'config', 'dynamicconfig', 'herald.yaml'), pollInterval: '10s' },
  };
}

/** Answers whether `call` succeeded on a fresh connection to `address`. */
async function withConnection(address: string, call: (connection: Connection) => Promise<unknown>): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 }).catch(() => undefined);
  if (!connection) return false;
  try {
    await call(connection);
    return true;
  } catch {
    return false;
  } finally {
    await connection.close();
  }
}

const day = 86_400_000;

/**
 * Registers Herald's namespace (or sets its retention) and its search attributes, read from
 * workflows/contract.ts at run time; answers once a query over all of them is accepted.
 */
export async function registerHeraldNamespace(address: string, namespace: string, retentionDays: number): Promise<void> {
  const retention = msToTs(retentionDays * day);
  await waitFor(`Temporal to serve namespace ${namespace} with Herald's search attributes`, () => withConnection(address, async (connection) => {
    const described = await connection.workflowService.describeNamespace({ namespace }).catch((err: { code?: number }) => {
      if (err.code === 5 /* NOT_FOUND */) return undefined;
      throw err;
    });
    if (!described) {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: retention });
      throw new Error('registered; the namespace registry picks it up within seconds');
    }
    if (Number(described.config?.workflowExecutionRetentionTtl?.seconds) !== retentionDays * day / 1000) {
      await connection.workflowService.updateNamespace({ namespace, config: { workflowExecutionRetentionTtl: retention } });
    }
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = heraldSearchAttributes.filter((key) => !customAttributes?.[key.name]);
    if (missing.length) {
      const { IndexedValueType } = proto.temporal.api.enums.v1;
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((key) => [key.name, IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}` as keyof typeof IndexedValueType]])),
      });
      throw new Error('added; visible once the namespace registry refreshes');
    }
    // The frontend resolves every attribute name: workflows may set them.
    await connection.workflowService.countWorkflowExecutions({
      namespace,
      query: heraldSearchAttributes.map((key) => `${key.name} IS NOT NULL`).join(' AND '),
    });
  }), 60_000, 500);
}
