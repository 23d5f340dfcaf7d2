import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eventually } from './eventually.ts';
import { freePort } from './ports.ts';

export type HeraldProcess = Awaited<ReturnType<typeof heraldProcess>>;

/** Herald as `npm start` runs it, in a process of its own (embedded Temporal and PGlite under `dataDir`). */
export async function heraldProcess(extraEnv: Record<string, string> = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-process-'));
  const port = await freePort();
  const env = {
    ...process.env, PORT: String(port), HERALD_HOST: '127.0.0.1', HERALD_DATA_DIR: dataDir, LOG_LEVEL: 'warn',
    HERALD_DEV_SERVER_PORT: String(await freePort()), HERALD_UI_PORT: String(await freePort()), HERALD_TEMPORAL_METRICS_PORT: '0',
    ...extraEnv,
  };
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let stderr = '';
  const post = (route: string, body: unknown) =>
    fetch(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return {
    url,
    dataDir,
    post,
    get: (route: string) => fetch(`${url}${route}`).then((r) => r.json()),
    /** What the running (or last) process wrote to stderr. */
    stderr: () => stderr,
    async start() {
      stderr = '';
      child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      await eventually(() => fetch(`${url}/readyz`).then((r) => r.status, () => 0), (status) => status === 200, 90_000, 200);
    },
    /** Resolves with the exit code (null when killed by a signal) once the process exits by itself. */
    exited(): Promise<number | null> {
      if (!child) throw new Error('not started');
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
      return once(child, 'exit').then(([code]) => code as number | null);
    },
    /** Sends `signal` and answers the exit code (null when killed by the signal). */
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!child || child.exitCode !== null || child.signalCode !== null) return undefined;
      const exited = once(child, 'exit');
      child.kill(signal);
      return (await exited)[0] as number | null;
    },
    async remove() {
      await this.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
