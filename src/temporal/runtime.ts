import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Logger } from '../logger.ts';

const pinoLevel = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

let installed = false;

/**
 * Routes the Temporal SDK's own logs (worker state, bundling, core) through pino and, given an
 * address, serves the SDK's worker metrics (task slots, poll and activity latencies) for Prometheus.
 * At Herald's default level only SDK warnings and errors show; its info lines are build chatter.
 * The runtime is per process: the first call decides.
 */
export function installTemporalRuntime(logger: Logger, options: { prometheusBindAddress?: string } = {}): void {
  if (installed) return;
  const sdk = logger.child({ component: 'temporal-sdk' });
  const verbose = logger.isLevelEnabled('debug');
  Runtime.install({
    // Herald stops in order (HTTP, worker, storage, embedded server); the SDK must not start on its own.
    shutdownSignals: [],
    logger: new DefaultLogger(verbose ? 'DEBUG' : 'WARN', ({ level, message, meta }) => sdk[pinoLevel[level]](meta ?? {}, message)),
    ...(options.prometheusBindAddress && {
      telemetryOptions: { metrics: { prometheus: { bindAddress: options.prometheusBindAddress } } },
    }),
  });
  installed = true;
}
