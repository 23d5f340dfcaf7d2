import { createRequire } from 'node:module';
import { bundleWorkflowCode, type NativeConnection, Worker, type WorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Logger } from './logger.ts';
import { createActivities, type ActivityDeps } from '../activities/index.ts';

export const workflowsPath = createRequire(import.meta.url).resolve('../workflows/index.ts');

/** Bundles workflow code once (a few seconds of webpack); its build report stays out of the logs. */
export function bundleWorkflows(logger: Logger, path = workflowsPath): Promise<WorkflowBundleWithSourceMap> {
  const bundler = logger.child({ component: 'workflow-bundler' });
  const quiet = () => undefined;
  return bundleWorkflowCode({
    workflowsPath: path,
    logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: bundler.warn.bind(bundler), error: bundler.error.bind(bundler) },
  });
}

export interface WorkerSettings {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** A prebuilt bundle (tests build one and share it); otherwise the worker bundles at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Slots and cache size (the configuration's `tuning`); the SDK's defaults when unset (time-skipping tests). */
  tuning?: WorkerTuning;
  /** Payload encryption (heraldDataConverter); the SDK's default when unset. */
  dataConverter?: WorkerOptions['dataConverter'];
}

/** The part of the configuration's `tuning` a worker takes. */
export interface WorkerTuning {
  activitySlots: number;
  workflowSlots: number;
  cachedWorkflows?: number;
}

/** Herald's worker settings as the SDK's options (the benchmark's baseline worker uses them too). */
export function workerTuning(tuning: WorkerTuning): Partial<WorkerOptions> {
  return {
    maxConcurrentActivityTaskExecutions: tuning.activitySlots,
    maxConcurrentWorkflowTaskExecutions: tuning.workflowSlots,
    ...(tuning.cachedWorkflows !== undefined && { maxCachedWorkflows: tuning.cachedWorkflows }),
  };
}

/** The Temporal worker that runs Herald's workflows and activities. Stateless: run as many as you like. */
export function createHeraldWorker(settings: WorkerSettings, deps: ActivityDeps): Promise<Worker> {
  return Worker.create({
    connection: settings.connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    ...(settings.workflowBundle ? { workflowBundle: settings.workflowBundle } : { workflowsPath }),
    activities: createActivities(deps),
    dataConverter: settings.dataConverter,
    ...(settings.tuning && workerTuning(settings.tuning)),
  });
}
