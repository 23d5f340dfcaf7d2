import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { Agent } from 'undici';
import { heraldMainArgs } from '../../ops/heraldMain.ts';
import type { Role } from '../../src/herald.ts';
import { spawnTiedToThisProcess } from '../../src/processWatchdog.ts';
import { eventually } from './eventually.ts';
import { freePort } from './ports.ts';
import { newTestDataDir } from './suiteSetup.ts';

export type HeraldProcess = Awaited<ReturnType<typeof heraldProcess>>;

/**
 * The tests' requests to the Herald processes they start, each on a connection of its own. A pooled
 * keep-alive connection is closed by Herald after 5 s idle; a test process held up past that (other
 * tests' work beside it, a loaded machine) reuses it before it sees the close, and the request fails
 * with "other side closed" (seen on a status poll in restarts.test.ts, its tests side by side).
 */
const connectionPerRequest = new Agent({ pipelining: 0 });
const request = (url: string, init: RequestInit = {}) => fetch(url, { ...init, dispatcher: connectionPerRequest } as RequestInit);

/**
 * Herald in a process of its own, as `npm start` (role `all`: embedded Temporal and PGlite under a
 * temp data dir) or `npm run start:api|start:worker` runs it; `env` adds DATABASE_URL,
 * TEMPORAL_ADDRESS and the like. It can be started again after it stopped, with the same settings.
 */
export async function heraldProcess(role: Role = 'all', extraEnv: Record<string, string | undefined> = {}) {
  const dataDir = await newTestDataDir(`herald-${role}-`, { embeddedDatabase: role === 'all' && !extraEnv.DATABASE_URL });
  // Ports given in `extraEnv` are used as given: two processes can then run on the same ports in turn.
  const port = Number(extraEnv.PORT ?? await freePort());
  const metricsPort = Number(extraEnv.HERALD_METRICS_PORT ?? await freePort());
  const env = {
    ...process.env, PORT: String(port), HERALD_HOST: '127.0.0.1', HERALD_DATA_DIR: dataDir, LOG_LEVEL: 'warn',
    HERALD_DEV_SERVER_PORT: String(await freePort()), HERALD_UI_PORT: String(await freePort()),
    HERALD_METRICS_PORT: String(metricsPort), HERALD_TEMPORAL_METRICS_PORT: '0', ...extraEnv,
  };
  const url = `http://127.0.0.1:${port}`;
  /** Where a worker-only process serves its own metrics (answering once its worker runs). */
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const readyUrl = role === 'worker' ? metricsUrl : `${url}/readyz`;
  let child: ChildProcess | undefined;
  let stderr = '';
  const post = (route: string, body: unknown) =>
    request(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return {
    url,
    dataDir,
    post,
    get: (route: string) => request(`${url}${route}`).then((r) => r.json()),
    /** JSON request to the API; answers status and parsed body. */
    async api(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
      const response = await request(`${url}${route}`, {
        method, headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers }, body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
    },
    metricsUrl,
    /** What the running (or last) process wrote to stderr (its last 4,000 characters). */
    stderr: () => stderr,
    async start() {
      stderr = '';
      // A test file killed on its timeout must not leave its Heralds (and their Temporal servers) running.
      const started = spawnTiedToThisProcess(process.execPath, heraldMainArgs(role), { env, stdio: ['ignore', 'ignore', 'pipe'] });
      started.stderr!.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-4000)));
      child = started;
      // Generous: test files run side by side, and a start on a busy machine is slow.
      await eventually(async () => {
        if (started.exitCode !== null) throw new Error(`herald ${role} exited with code ${started.exitCode} before it was ready:\n${stderr}`);
        return request(readyUrl).then((r) => r.status, () => 0);
      }, (status) => status === 200, 180_000, 200);
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
