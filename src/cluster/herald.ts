import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Role } from '../herald.ts';
import { waitFor } from './wait.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface HeraldRole {
  /** `herald-api`, `herald-worker-1`, …: the Compose service (and replica) it stands for. */
  name: string;
  role: Role;
  /** Where it answers 200 once running: the API's /readyz, a worker's metrics. */
  readyUrl: string;
  logFile: string;
  pid(): number | undefined;
  /** Starts the process (again) and waits until it is ready. */
  start(): Promise<void>;
  /** Sends `signal` and waits for the exit: SIGTERM drains, SIGKILL is a crash. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * One Herald process as `tsx src/main.ts <role>` runs it (the Compose services' command), its
 * pino log appended to `logFile`. `env` carries TEMPORAL_ADDRESS, DATABASE_URL, ports and the like.
 */
export function heraldRole(name: string, role: Role, env: Record<string, string>, readyUrl: string, logFile: string): HeraldRole {
  let child: ChildProcess | undefined;
  return {
    name, role, readyUrl, logFile,
    pid: () => child?.pid,
    async start() {
      const log = fs.openSync(logFile, 'a');
      const started = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', role], {
        cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', log, log],
      });
      fs.closeSync(log);
      child = started;
      await waitFor(`${name} to be ready at ${readyUrl} (log: ${logFile})`, async () => {
        if (started.exitCode !== null) throw new Error(`${name} exited with code ${started.exitCode} before it was ready; see ${logFile}`);
        return fetch(readyUrl).then((r) => r.ok, () => false);
      }, 120_000, 250);
    },
    async kill(signal) {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}
