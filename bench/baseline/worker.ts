/**
 * The baseline process: a worker and a starter sharing one connection, as Herald's API and worker
 * do, running noopWorkflow with Herald's worker settings (the same HERALD_* variables). The
 * benchmark asks it over IPC to run a batch and answers when every activity has run.
 */
import { createRequire } from 'node:module';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { loadConfig } from '../../src/config.ts';
import { bundleWorkflows, workerTuning } from '../../src/worker.ts';
import { createLogger } from '../../src/logger.ts';
import type { noopWorkflow } from './workflows.ts';

export interface BaselineBatch { count: number; concurrency: number; prefix: string }
export interface BaselineResult { elapsedMs: number }

const TASK_QUEUE = 'bench-baseline';
const config = loadConfig();
const { tuning } = config;
Runtime.install({ shutdownSignals: [] });
const connection = await NativeConnection.connect({ address: config.temporal.address! });
const client = new Client({ connection, namespace: config.temporal.namespace });

let activitiesRun = 0;
let onActivity = () => undefined as void;
const worker = await Worker.create({
  connection,
  namespace: config.temporal.namespace,
  taskQueue: TASK_QUEUE,
  workflowBundle: await bundleWorkflows(createLogger('warn'), { workflowsPath: createRequire(import.meta.url).resolve('./workflows.ts') }),
  activities: { noop: async () => void (activitiesRun += 1, onActivity()) },
  ...workerTuning(tuning),
});
const running = worker.run();

async function runBatch({ count, concurrency, prefix }: BaselineBatch): Promise<BaselineResult> {
  const target = activitiesRun + count;
  const allRun = new Promise<void>((resolve) => (onActivity = () => void (activitiesRun >= target && resolve())));
  const started = performance.now();
  let next = 0;
  const starter = async () => {
    for (let i = next++; i < count; i = next++) {
      await client.workflow.start<typeof noopWorkflow>('noopWorkflow', {
        workflowId: `${prefix}-${i}`, taskQueue: TASK_QUEUE, args: [],
        requestEagerStart: tuning.eagerStart,
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, starter));
  await allRun;
  return { elapsedMs: performance.now() - started };
}

process.on('message', (batch: BaselineBatch) => {
  void runBatch(batch).then((result) => process.send!(result));
});
process.on('disconnect', () => {
  worker.shutdown();
  void running.then(() => connection.close()).then(() => process.exit(0));
});
process.send!('ready');
