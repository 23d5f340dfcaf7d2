import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPostgres as startServer } from '../../ops/postgres.ts';
import { freePort } from './ports.ts';

export interface TestPostgres {
  /** Creates an empty database on this cluster and answers its connection URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the cluster and removes its files. */
  stop(): Promise<void>;
}

/**
 * A throwaway PostgreSQL 16 cluster (ops/postgres.ts: the version docker-compose.yml runs,
 * shipped through npm) in a temp dir, on a free port on 127.0.0.1, without durability work.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-postgres-'));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    const server = await startServer({ dir, port: await freePort(), user: 'herald', password: 'herald', durable: false });
    return {
      createDatabase: (name) => server.createDatabase(name),
      async stop() {
        await server.stop();
        remove();
      },
    };
  } catch (err) {
    remove();
    throw new Error(`the test PostgreSQL cluster did not start: ${err instanceof Error ? err.message : String(err)}`);
  }
}
