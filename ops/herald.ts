import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Role } from '../src/herald.ts';
import { heraldMainArgs } from './heraldMain.ts';
import { waitFor } from './wait.ts';
import { spawnTiedToThisProcess } from '../src/processWatchdog.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export interface HeraldRole {
  /** `herald-api`, `herald-worker-1`, …: the Compose service (and replica) it stands for. */
  name: string;
  role: Role;
  /** Where it answers 200 once running: the API's /readyz, a worker's metrics. */
  readyUrl: string;
  logFile: string;
  pid(): number | undefined;
  /** Starts the process (again) and waits until it is ready; from then on it is restarted whenever it exits, until kill(). */
  start(): Promise<void>;
  /** Sends `signal` and waits for the exit: SIGTERM drains, SIGKILL is a crash. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * One Herald process as `tsx src/main.ts <role>` runs it (the Compose services' command, with their
 * `restart: unless-stopped`; in the tests, their prebuilt copy of it: ops/heraldMain.ts), its pino log appended to `logFile`. `env` carries TEMPORAL_ADDRESS, DATABASE_URL, ports and the like.
 */
export function heraldRole(name: string, role: Role, env: Record<string, string>, readyUrl: string, logFile: string): HeraldRole {
  let child: ChildProcess | undefined;
  /** Whether it should be running: an exit while it should is restarted, as Compose's `restart: unless-stopped` does. */
  let wanted = false;
  const note = (message: string) => fs.appendFileSync(logFile, `${JSON.stringify({ level: 40, time: Date.now(), service: 'herald-cluster', msg: message })}\n`);
  const spawnOnce = () => {
    const log = fs.openSync(logFile, 'a');
    const started = spawnTiedToThisProcess(process.execPath, heraldMainArgs(role), {
      cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    child = started;
    started.on('exit', (code, signal) => {
      if (!wanted || child !== started || !ready.has(started)) return;
      note(`${name} exited (${signal ?? `code ${code}`}); restarting it`);
      void start().catch((err) => note(`${name} did not come back: ${err instanceof Error ? err.message : String(err)}`));
    });
    return started;
  };
  const ready = new WeakSet<ChildProcess>();
  /** Starts it until it is ready: a process that exits first (its database or Temporal not up yet) is started again, after 1, 2, 4… s. */
  const start = async () => {
    wanted = true;
    const deadline = Date.now() + 180_000;
    for (let delayMs = 1_000; ; delayMs = Math.min(delayMs * 2, 15_000)) {
      const started = spawnOnce();
      try {
        await waitFor(`${name} to be ready at ${readyUrl} (log: ${logFile})`, async () => {
          if (started.exitCode !== null) throw new Error(`${name} exited with code ${started.exitCode} before it was ready; see ${logFile}`);
          return fetch(readyUrl).then((r) => r.ok, () => false);
        }, Math.max(1_000, deadline - Date.now()), 250);
        ready.add(started);
        return;
      } catch (err) {
        if (started.exitCode === null || !wanted || Date.now() + delayMs > deadline) throw err;
        note(`${name} exited before it was ready; starting it again in ${delayMs / 1000} s`);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  };
  return {
    name, role, readyUrl, logFile,
    pid: () => child?.pid,
    start,
    async kill(signal) {
      wanted = false;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}
