import { loadConfig } from './config.ts';
import { startHerald, type Role } from './herald.ts';
import { createLogger } from './logger.ts';

/** `all` (default) runs the API and the worker in one process; `api` and `worker` run one each. */
async function main(role: Role): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const herald = await startHerald(role, config, logger);
  // Handlers stay installed: Ctrl-C reaches the whole process group and npm relays it too, so a
  // second signal must not fall through to Node's default (an exit halfway through shutdown).
  const failure = await new Promise<Error | undefined>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => resolve(undefined));
    void herald.failed.then(resolve);
  });
  if (failure) logger.fatal({ err: failure }, 'shutting down: Herald cannot run on');
  else logger.info('shutting down: draining HTTP requests and in-flight activities');
  await herald.stop();
  // Exits non-zero, so a process supervisor (systemd, Docker, Kubernetes) restarts Herald whole.
  if (failure) throw failure;
  logger.info('stopped');
}

const role = process.argv[2] ?? 'all';
if (role !== 'all' && role !== 'api' && role !== 'worker') {
  console.error('usage: tsx src/main.ts [all|api|worker]');
  process.exit(2);
}
main(role).then(
  () => process.exit(0),
  (err) => {
    console.error(`herald: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
