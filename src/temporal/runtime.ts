import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Logger } from '../logger.ts';

const pinoLevel = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

let installed = false;

/**
 * Routes the Temporal SDK's own logs (worker state, bundling, core) through pino.
 * At Herald's default level only SDK warnings and errors show; its info lines are build chatter.
 */
export function installTemporalRuntime(logger: Logger): void {
  if (installed) return;
  installed = true;
  const sdk = logger.child({ component: 'temporal-sdk' });
  const verbose = logger.isLevelEnabled('debug');
  Runtime.install({
    // Herald stops in order (HTTP, worker, storage, embedded server); the SDK must not start on its own.
    shutdownSignals: [],
    logger: new DefaultLogger(verbose ? 'DEBUG' : 'WARN', ({ level, message, meta }) => sdk[pinoLevel[level]](meta ?? {}, message)),
  });
}
