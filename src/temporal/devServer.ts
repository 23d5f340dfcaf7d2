import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { spawnTiedToThisProcess } from '../processWatchdog.ts';
import { canBind, portHolder } from '../listeningSockets.ts';
import type { Logger } from '../logger.ts';
import { heraldSearchAttributes } from '../../workflows/contract.ts';

export interface DevServerOptions {
  /** Directory of the provisioned binaries (scripts/provision.sh). */
  cacheDir: string;
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  /** How long closed workflows stay visible; it is also how long event ids are recognised as duplicates. */
  retentionDays: number;
  /** No Web UI (tests). */
  headless?: boolean;
  /**
   * SQLite's `synchronous` under write-ahead logging. `full` syncs every commit, so nothing
   * acknowledged is lost even to a power cut; `normal` syncs at checkpoints: still safe from
   * process crashes, but an OS crash can lose the last commits.
   */
  sqliteSync?: 'full' | 'normal';
  /** Where the Web UI sends payloads to decode (Herald's /codec), when payloads are encrypted. */
  uiCodecEndpoint?: string;
  logger: Logger;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  /**
   * Settles only if the server died and could not be brought back: after an unexpected exit it is
   * restarted on the same database and ports, and this answers once that failed too often in a row.
   */
  lost: Promise<Error>;
  stop(): Promise<void>;
}

const typeNames: Record<string, string> = { KEYWORD: 'Keyword', KEYWORD_LIST: 'KeywordList', INT: 'Int' };

/** Restarts wait 1 s, 2 s, 4 s, 8 s; the fifth failure in a row (exits or failed restarts) gives up. */
const FIRST_RESTART_DELAY_MS = 1_000;
const FAILURES_BEFORE_GIVING_UP = 5;
/** A server that served this long before it died was healthy: its death starts a fresh count. */
const HEALTHY_RUN_MS = 60_000;

/**
 * Starts the Temporal CLI's dev server on SQLite under the data dir, ready for Herald's workflows,
 * and supervises it: if it exits while Herald runs (OOM killer, kill -9), it is started again.
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const provisioned = path.join(opts.cacheDir, 'temporal');
  if (!fs.existsSync(provisioned)) {
    throw new Error(`Temporal CLI not found at ${provisioned}: run 'npm run provision' or set TEMPORAL_ADDRESS`);
  }
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const dbFile = path.join(opts.dataDir, 'temporal.db');
  const pidFile = path.join(opts.dataDir, 'temporal-dev-server.pid');
  const cli = await cliForDatabase(opts.cacheDir, dbFile, path.join(opts.dataDir, 'temporal-dev-server.version'), opts.logger);
  await stopLeftoverServer(pidFile, dbFile, opts.logger);
  const address = `127.0.0.1:${opts.port}`;
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1', '--port', String(opts.port),
    '--db-filename', dbFile,
    '--namespace', opts.namespace,
    '--log-level', 'error',
    // Write-ahead logging: one sync per commit instead of the rollback journal's several.
    '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', `synchronous=${opts.sqliteSync ?? 'full'}`,
    // A worker that completes a workflow task may take the activities it schedules in the same reply.
    '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
    ...(opts.headless ? ['--headless'] : ['--ui-port', String(opts.uiPort)]),
    ...(!opts.headless && opts.uiCodecEndpoint ? ['--ui-codec-endpoint', opts.uiCodecEndpoint] : []),
    ...heraldSearchAttributes.flatMap((key) => ['--search-attribute', `${key.name}=${typeNames[key.type] ?? key.type}`]),
  ];

  const ports = [
    { port: opts.port, what: 'gRPC port (HERALD_DEV_SERVER_PORT)' },
    ...(opts.headless ? [] : [{ port: opts.uiPort, what: 'Web UI port (HERALD_UI_PORT)' }]),
  ];
  /** One run of the server, answered once it serves Herald's namespace. */
  const serve = async (): Promise<ServerProcess> => {
    await waitForFreePorts(ports, opts.logger);
    const server = launch(cli, args, pidFile);
    try {
      const connection = await waitUntilServing(address, server);
      // Had another server taken the port meanwhile, it would have answered: Herald must talk to its own.
      const holder = portHolder(opts.port);
      if (holder && holder.pid !== server.pid) throw new PortInUseError(ports[0]!, holder);
      await connection.workflowService.updateNamespace({
        namespace: opts.namespace,
        config: { workflowExecutionRetentionTtl: proto.google.protobuf.Duration.fromObject({ seconds: opts.retentionDays * 86_400 }) },
      });
      await connection.close();
      return server;
    } catch (err) {
      await server.terminate();
      // It could not bind because a process took a port since the check: name that process instead.
      if (!(err instanceof PortInUseError)) await waitForFreePorts(ports, opts.logger, 0);
      throw err;
    }
  };

  let server = await serve();
  const uiUrl = opts.headless ? undefined : `http://localhost:${opts.uiPort}`;
  opts.logger.info({ address, uiUrl, dataDir: opts.dataDir }, 'embedded Temporal dev server ready');

  let stopping = false;
  let wake = () => {};
  let giveUp!: (reason: Error) => void;
  const lost = new Promise<Error>((resolve) => (giveUp = resolve));
  const log = opts.logger.child({ component: 'temporal-dev-server', address, dbFile });

  /** Waits on the running server; when it ends and Herald is not stopping, starts it again. */
  const supervise = async (): Promise<void> => {
    let failures = 0;
    for (let servingSince = Date.now(); ;) {
      const ended = await server.exited;
      if (stopping) return;
      failures = Date.now() - servingSince < HEALTHY_RUN_MS ? failures + 1 : 1;
      log.error({ pid: server.pid, ended, stderr: server.stderr() || undefined }, 'embedded Temporal dev server exited unexpectedly');
      let lastFailure = `it ${ended}`;
      for (;;) {
        if (failures >= FAILURES_BEFORE_GIVING_UP) {
          giveUp(new Error(`the embedded Temporal dev server at ${address} failed ${failures} times in a row and was not restarted (last: ${lastFailure}); its data is in ${dbFile}`));
          return;
        }
        const delayMs = FIRST_RESTART_DELAY_MS * 2 ** (failures - 1);
        log.warn({ delayMs, failures }, 'restarting the embedded Temporal dev server');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          wake = () => (clearTimeout(timer), resolve());
        });
        if (stopping) return;
        try {
          server = await serve();
          break;
        } catch (err) {
          // Another process holds the port: restarting cannot help.
          if (err instanceof PortInUseError) return giveUp(err);
          failures += 1;
          lastFailure = err instanceof Error ? err.message : String(err);
          log.error({ err, failures }, 'the embedded Temporal dev server did not come back');
        }
      }
      if (stopping) return server.terminate();
      servingSince = Date.now();
      log.info({ pid: server.pid }, 'embedded Temporal dev server restarted on the same database');
    }
  };
  const supervision = supervise();

  const stop = async () => {
    stopping = true;
    wake();
    await server.terminate();
    await supervision; // a restart under way terminates what it started
    fs.rmSync(pidFile, { force: true });
  };
  return { address, uiUrl, lost, stop };
}

/** The Temporal Server of data dirs made before Herald recorded it: the one the CLI v1.5.1 embeds. */
const SERVER_OF_UNRECORDED_DATABASES = '1.29.1';

/** Each CLI's answer, asked once per process and binary (a process may start several dev servers: the tests'). */
const serverVersions = new Map<string, Promise<string | undefined>>();

/** The Temporal Server version a CLI embeds (`temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)`). */
function serverVersionOf(cli: string): Promise<string | undefined> {
  const stat = fs.statSync(cli, { throwIfNoEntry: false });
  const key = `${cli} ${stat?.size} ${stat?.mtimeMs}`;
  let version = serverVersions.get(key);
  if (!version) {
    version = promisify(execFile)(cli, ['--version'], { encoding: 'utf8', timeout: 10_000 }).then(({ stdout }) => /\(Server ([^,)]+)/.exec(stdout)?.[1], () => undefined);
    serverVersions.set(key, version);
  }
  return version;
}

/**
 * The CLI to run on `dbFile`: the provisioned one, unless the file was made by another Temporal Server
 * version. The dev server's SQLite file has no migrations (Server 1.32.0 on a 1.29.1 file fails with
 * "no such table: current_chasm_executions"), so such a file stays on a cached CLI of its version.
 * A new file's version is recorded in `versionFile`; a file without one was made by 1.29.1.
 */
async function cliForDatabase(cacheDir: string, dbFile: string, versionFile: string, logger: Logger): Promise<string> {
  const provisioned = path.join(cacheDir, 'temporal');
  const current = await serverVersionOf(provisioned);
  if (!current) return provisioned; // it does not run: starting it says why
  if (!fs.existsSync(dbFile)) {
    fs.writeFileSync(versionFile, `${current}\n`);
    return provisioned;
  }
  const recorded = fs.existsSync(versionFile) ? fs.readFileSync(versionFile, 'utf8').trim() : SERVER_OF_UNRECORDED_DATABASES;
  if (recorded === current) return provisioned;
  const cached = fs.readdirSync(cacheDir).filter((name) => name.startsWith('temporal-cli-')).map((name) => path.join(cacheDir, name, 'temporal'));
  const versions = await Promise.all(cached.map((cli) => (fs.existsSync(cli) ? serverVersionOf(cli) : undefined)));
  const matching = cached.find((_, i) => versions[i] === recorded);
  if (!matching) {
    throw new Error(`${dbFile} was made by Temporal Server ${recorded}, which the provisioned CLI (Server ${current}) cannot open, and no CLI of that version is in ${cacheDir}: run 'npm run provision -- cli' from this directory, or start on a new HERALD_DATA_DIR`);
  }
  logger.warn({ dbFile, serverVersion: recorded, cli: matching }, `this data dir stays on Temporal Server ${recorded}, which made it; a new HERALD_DATA_DIR runs ${current}`);
  return matching;
}

interface ServerProcess {
  pid: number | undefined;
  /** Resolves, never rejects, once the process has ended, saying how. */
  exited: Promise<string>;
  /** The end of what it wrote to stderr (its errors; it runs at log level error). */
  stderr(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves once it has exited. */
  terminate(): Promise<void>;
}

function launch(cli: string, args: string[], pidFile: string): ServerProcess {
  // Its own process group: Ctrl-C reaches Herald, which stops the worker before the server.
  const child = spawnTiedToThisProcess(cli, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  // A Herald killed outright cannot stop the server it started; the next start finds it by this file.
  if (child.pid) fs.writeFileSync(pidFile, String(child.pid));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let running = true;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ? `was killed by ${signal}` : `exited with code ${code}`));
    child.once('error', (err) => resolve(`could not be run: ${err.message}`));
  }).finally(() => (running = false));
  return {
    pid: child.pid,
    exited,
    stderr: () => stderr.trim(),
    async terminate() {
      if (!running) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Another process listens on a port the dev server needs: restarting cannot help. */
export class PortInUseError extends Error {
  constructor(port: { port: number; what: string }, holder: { pid: number; command: string } | undefined) {
    const by = holder ? `pid ${holder.pid} (${holder.command || 'command unknown'})` : 'another process';
    super(`port ${port.port} on 127.0.0.1 (the embedded Temporal dev server's ${port.what}) is held by ${by}: stop it, or choose another port`);
  }
}

/** A dev server whose Herald died is stopped by its watchdog within 10 s: worth waiting for. */
const DYING_SERVER_GRACE_MS = 12_000;

/**
 * Answers once every port is free. A port another Temporal dev server holds is awaited for
 * `graceMs` (one whose Herald died is being stopped); anything else fails at once, in one line naming
 * the port and the process holding it.
 */
async function waitForFreePorts(ports: { port: number; what: string }[], logger: Logger, graceMs = DYING_SERVER_GRACE_MS): Promise<void> {
  const deadline = Date.now() + graceMs;
  for (const port of ports) {
    let logged = false;
    while (!(await canBind(port.port))) {
      const holder = portHolder(port.port);
      if (!holder?.command.includes(' start-dev ') || Date.now() >= deadline) throw new PortInUseError(port, holder);
      if (!logged) logger.warn({ port: port.port, pid: holder.pid }, 'another Temporal dev server holds the port; waiting for it to stop');
      logged = true;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function waitUntilServing(address: string, server: ServerProcess): Promise<Connection> {
  const deadline = Date.now() + 60_000;
  let ended: string | undefined;
  void server.exited.then((how) => (ended = how));
  for (;;) {
    if (ended !== undefined) {
      throw new Error(`Temporal dev server ${ended} before it was ready:\n${server.stderr()}`);
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`Temporal dev server at ${address} did not answer within 60 s: ${String(err)}\n${server.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/**
 * Stops a dev server left running on this data dir by a Herald that was killed (kill -9, a crash):
 * it holds the ports and the SQLite file. Only a process still running the Temporal CLI on this
 * very database is touched, never whatever else may have reused the pid.
 */
async function stopLeftoverServer(pidFile: string, dbFile: string, logger: Logger): Promise<void> {
  const pid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8') : NaN);
  fs.rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 0) return;
  let command: string;
  try {
    command = execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' });
  } catch {
    return; // no such process
  }
  if (!command.includes('start-dev') || !command.includes(dbFile)) return;
  logger.warn({ pid, dbFile }, 'stopping a Temporal dev server left running by an earlier Herald');
  process.kill(pid, 'SIGTERM');
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  process.kill(pid, 'SIGKILL');
}
