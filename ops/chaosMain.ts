import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createLogger } from '../src/logger.ts';
import { type ChaosTarget, clusterTarget, embeddedTarget, formatReport, runChaos } from './chaos.ts';

const options = z.object({
  embedded: z.boolean().default(false),
  events: z.coerce.number().int().min(1).default(1000),
  rate: z.coerce.number().positive().default(1),
  kills: z.coerce.number().int().min(0).default(20),
  'server-restarts': z.coerce.number().int().min(0).default(3),
  'postgres-restarts': z.coerce.number().int().min(0).default(1),
  workers: z.coerce.number().int().min(1).default(2),
  seed: z.coerce.number().int().default(Date.now() % 1_000_000),
  dir: z.string().min(1).optional(),
});

const usage = `usage: npm run chaos -- [--embedded] [--events N] [--rate N] [--kills N] [--server-restarts N] [--postgres-restarts N] [--workers N] [--seed N] [--dir DIR]
  Sends --events (1000) at --rate (1/s) to three endpoints while killing worker processes with kill -9 (--kills, 20),
  the Temporal server (--server-restarts, 3) and restarting PostgreSQL (--postgres-restarts, 1), on a fresh cluster
  (or, with --embedded, on npm start's embedded default); then judges from the receivers' logs. Exit 1 on any loss.`;

async function main(): Promise<number> {
  let args;
  try {
    const { values } = parseArgs({
      options: Object.fromEntries(Object.keys(options.shape).map((k) => [k, { type: k === 'embedded' ? 'boolean' : 'string' }] as const)),
    });
    args = options.parse(values);
  } catch (err) {
    const message = err instanceof z.ZodError ? err.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n') : String(err instanceof Error ? err.message : err);
    console.error(`${message}\n${usage}`);
    return 2;
  }
  const logger = createLogger(process.env.LOG_LEVEL ?? 'info');
  const dir = path.resolve(args.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chaos-')));
  fs.mkdirSync(dir, { recursive: true });
  const cacheDir = process.env.HERALD_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'herald');
  logger.info({ dir, seed: args.seed }, 'chaos soak: receivers’ logs, Herald’s and Temporal’s logs and the report go here');
  const target: ChaosTarget = args.embedded
    ? await embeddedTarget({ dir, logger })
    : await clusterTarget({ dir, cacheDir, workers: args.workers, logger });
  // Ctrl-C: stop what the soak started (the cluster, Herald, Temporal, PostgreSQL) before exiting.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void target.stop().finally(() => process.exit(130)));
  }
  let report;
  try {
    report = await runChaos(target, {
      events: args.events, rate: args.rate, workerKills: args.kills, temporalRestarts: args['server-restarts'],
      postgresRestarts: args['postgres-restarts'], dir, seed: args.seed, drainTimeoutMs: 60 * 60_000, logger,
    });
  } finally {
    await target.stop();
  }
  console.log(`\n${formatReport(report)}\n  (seed ${args.seed}; logs and report.json in ${dir})`);
  return report.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`herald chaos: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
