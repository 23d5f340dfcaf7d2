import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Logger } from '../logger.ts';
import { migrations } from './migrations.ts';

/** The one SQL surface Herald uses; PGlite and PostgreSQL both speak it. */
export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
}

export interface Db extends Queryable {
  /** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Reclaims the space of deleted and updated rows and refreshes the planner's statistics (VACUUM ANALYZE) where
   * nothing else does: PGlite runs in single-user mode, without autovacuum, so its tables would only grow.
   * PostgreSQL's autovacuum does it there, so this does nothing.
   */
  maintain(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Creates Herald's data directory (and any missing parents) readable by its owner only (0700):
 * it holds the dev server's histories and the embedded database, secrets included. A directory
 * that already exists keeps its permissions.
 */
export function createPrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * PostgreSQL when a URL is given, otherwise embedded PGlite under `dataDir` (or in memory for `memory://`).
 * `memoryFrom`: a PGlite dump (`dumpDataDir`) an in-memory database starts from instead of a new cluster (the
 * tests' migrated template: about 1 s of CPU, where a new cluster and its migrations take 6).
 */
export async function openDb(opts: { databaseUrl?: string; dataDir: string; logger?: Logger; memoryFrom?: Blob }): Promise<Db> {
  const db = opts.databaseUrl ? await openPostgres(opts.databaseUrl, opts.logger) : await openPglite(opts.dataDir, opts.memoryFrom);
  await migrate(db);
  return db;
}

async function openPostgres(url: string, logger?: Logger): Promise<Db> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle connection the server ends (a restart, a failover, an idle timeout) errors with no
  // query to fail; unheard, that error would end the process. The pool drops it and opens another.
  pool.on('error', (err) => logger?.warn({ err }, 'PostgreSQL closed an idle connection'));
  return {
    async query(sql, params) {
      return (await pool.query(sql, params as unknown[])).rows;
    },
    async transaction(work) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await work({ query: async (sql, params) => (await client.query(sql, params as unknown[])).rows as never[] });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
        throw err;
      } finally {
        // A connection that could not roll back is discarded, not handed to the next query.
        client.release(broken);
      }
    },
    maintain: async () => {},
    close: () => pool.end(),
  };
}

async function openPglite(dataDir: string, memoryFrom?: Blob): Promise<Db> {
  const { PGlite } = await import('@electric-sql/pglite');
  let location = dataDir;
  if (dataDir !== 'memory://') {
    location = path.join(dataDir, 'pglite');
    createPrivateDir(location);
  }
  // Herald's tables are small and endpoint reads are cached: PostgreSQL's default 128 MB of shared buffers is resident memory for nothing.
  const startParams = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];
  // Creating the cluster grows WebAssembly memory to several hundred MB that is never given back:
  // a child process does it and exits, so Herald's own memory never peaks there.
  if (location !== 'memory://' && !fs.existsSync(path.join(location, 'PG_VERSION'))) await createClusterInChild(location, startParams);
  const pglite = await PGlite.create(location, { startParams, ...(location === 'memory://' && memoryFrom && { loadDataDir: memoryFrom }) });
  const { PgliteSession } = await import('./pgliteSession.ts');
  return new PgliteSession(pglite);
}

async function createClusterInChild(location: string, startParams: string[]): Promise<void> {
  const module = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  const script = `const { PGlite } = await import(${JSON.stringify(module)});
    const db = await PGlite.create(process.argv[1], { startParams: JSON.parse(process.argv[2]) });
    await db.close();`;
  await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, location, JSON.stringify(startParams)]);
}

/** Herald's own advisory lock key (any bigint; other applications sharing the database must not take it). */
const MIGRATION_LOCK_KEY = 4_841_727_115;

/**
 * Brings the schema up to date in one transaction: all pending versions or none. API and worker
 * processes starting together on an empty database take turns on the lock; the later ones find
 * the work done. (Without it they race on CREATE TABLE and all but one fail to start.)
 */
async function migrate(db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query('CREATE TABLE IF NOT EXISTS herald_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const applied = new Set((await tx.query<{ version: number }>('SELECT version FROM herald_migrations')).map((r) => r.version));
    for (const [index, statements] of migrations.entries()) {
      const version = index + 1;
      if (applied.has(version)) continue;
      for (const sql of statements) await tx.query(sql);
      await tx.query('INSERT INTO herald_migrations (version) VALUES ($1)', [version]);
    }
  });
}
