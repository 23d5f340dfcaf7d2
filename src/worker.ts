import { createRequire } from 'node:module';
import { bundleWorkflowCode, type NativeConnection, Worker, type WorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Logger } from './logger.ts';
import type { Tracing } from './tracing.ts';
import { createActivities, type ActivityDeps } from '../activities/index.ts';

const resolve = createRequire(import.meta.url).resolve;
/** Herald's workflows, and the interceptors that carry a trace through them (workflows/tracing.ts). */
const heraldWorkflows = { workflowsPath: resolve('../workflows/index.ts'), workflowInterceptorModules: [resolve('../workflows/tracing.ts')] };

/** Bundles workflow code once (a few seconds of webpack); its build report stays out of the logs. */
export function bundleWorkflows(
  logger: Logger, workflows: { workflowsPath: string; workflowInterceptorModules?: string[] } = heraldWorkflows,
): Promise<WorkflowBundleWithSourceMap> {
  const bundler = logger.child({ component: 'workflow-bundler' });
  const quiet = () => undefined;
  return bundleWorkflowCode({
    ...workflows,
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
  /** Traced workflows' and activities' spans (src/tracing.ts); unset: nothing is traced (time-skipping tests). */
  tracing?: Pick<Tracing, 'activityInterceptor' | 'sinks'>;
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
    ...(settings.workflowBundle ? { workflowBundle: settings.workflowBundle } : { workflowsPath: heraldWorkflows.workflowsPath }),
    interceptors: {
      activity: settings.tracing ? [settings.tracing.activityInterceptor] : [],
      // A bundle holds them already.
      ...(!settings.workflowBundle && { workflowModules: heraldWorkflows.workflowInterceptorModules }),
    },
    sinks: settings.tracing?.sinks,
    activities: createActivities(deps),
    dataConverter: settings.dataConverter,
    ...(settings.tuning && workerTuning(settings.tuning)),
  });
}
