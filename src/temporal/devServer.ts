import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import type { Logger } from '../logger.ts';
import { heraldSearchAttributes } from '../../workflows/searchAttributes.ts';

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
  stop(): Promise<void>;
}

const typeNames: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int' };

/** Starts the Temporal CLI's dev server on SQLite under the data dir, ready for Herald's workflows. */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const cli = path.join(opts.cacheDir, 'temporal');
  if (!fs.existsSync(cli)) {
    throw new Error(`Temporal CLI not found at ${cli}: run 'npm run provision' (needs Go) or set TEMPORAL_ADDRESS`);
  }
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const dbFile = path.join(opts.dataDir, 'temporal.db');
  const pidFile = path.join(opts.dataDir, 'temporal-dev-server.pid');
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
    ...(opts.headless ? ['--headless'] : ['--ui-port', String(opts.uiPort)]),
    ...(!opts.headless && opts.uiCodecEndpoint ? ['--ui-codec-endpoint', opts.uiCodecEndpoint] : []),
    ...heraldSearchAttributes.flatMap((key) => ['--search-attribute', `${key.name}=${typeNames[key.type] ?? key.type}`]),
  ];
  // Its own process group: Ctrl-C reaches Herald, which stops the worker before the server.
  const child = spawn(cli, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  // A Herald killed outright cannot stop the server it started; the next start finds it by this file.
  fs.writeFileSync(pidFile, String(child.pid));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    fs.rmSync(pidFile, { force: true });
  };

  try {
    const connection = await waitUntilServing(address, exited, () => stderr);
    await connection.workflowService.updateNamespace({
      namespace: opts.namespace,
      config: { workflowExecutionRetentionTtl: msToTs(opts.retentionDays * 86_400_000) },
    });
    await connection.close();
  } catch (err) {
    await stop();
    throw err;
  }
  const uiUrl = opts.headless ? undefined : `http://localhost:${opts.uiPort}`;
  opts.logger.info({ address, uiUrl, dataDir: opts.dataDir }, 'embedded Temporal dev server ready');
  return { address, uiUrl, stop };
}

async function waitUntilServing(address: string, exited: Promise<number | null>, stderr: () => string): Promise<Connection> {
  const deadline = Date.now() + 60_000;
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`Temporal dev server exited (code ${exitCode}) before it was ready:\n${stderr()}`);
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`Temporal dev server at ${address} did not answer within 60 s: ${String(err)}\n${stderr()}`);
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
