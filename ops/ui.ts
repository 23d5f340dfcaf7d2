import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { waitFor } from './wait.ts';
import { spawnTiedToThisProcess } from '../src/processWatchdog.ts';

export interface WebUi {
  url: string;
  stop(): void;
}

/**
 * The Temporal Web UI server (module github.com/temporalio/ui-server, its build embedded), as the
 * `temporalio/ui` image runs it; undefined when scripts/provision.sh has not built it.
 */
export async function startWebUi(opts: { cacheDir: string; dir: string; host: string; port: number; temporalAddress: string; codecEndpoint?: string }): Promise<WebUi | undefined> {
  const binary = path.join(opts.cacheDir, 'temporal-ui-server');
  if (!fs.existsSync(binary)) return undefined;
  fs.mkdirSync(path.join(opts.dir, 'config'), { recursive: true });
  fs.writeFileSync(path.join(opts.dir, 'config', 'development.yaml'), stringify({
    temporalGrpcAddress: opts.temporalAddress,
    // Without it the server listens on every interface: no authentication, and it can terminate workflows.
    host: opts.host,
    port: opts.port,
    enableUi: true,
    defaultNamespace: 'default',
    notifyOnNewVersion: false,
    ...(opts.codecEndpoint ? { codec: { endpoint: opts.codecEndpoint } } : {}),
  }));
  const log = fs.openSync(path.join(opts.dir, 'web-ui.log'), 'a');
  const child: ChildProcess = spawnTiedToThisProcess(binary, ['--root', opts.dir, '--config', 'config', '--env', 'development', 'start'], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const url = `http://localhost:${opts.port}`;
  await waitFor(`the Temporal Web UI at ${url}`, async () => {
    if (child.exitCode !== null) throw new Error(`the Temporal Web UI server exited with code ${child.exitCode}; see ${path.join(opts.dir, 'web-ui.log')}`);
    return fetch(url).then((r) => r.ok, () => false);
  }, 30_000);
  return { url, stop: () => void child.kill('SIGTERM') };
}
