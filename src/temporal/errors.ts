import { isGrpcDeadlineError, isGrpcServiceError, ServiceError } from '@temporalio/client';

const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

/** True when the error means "Temporal could not be reached", as opposed to a refusal. */
export function isTemporalUnreachable(err: unknown): boolean {
  const cause = err instanceof ServiceError ? err.cause : err;
  if (isGrpcDeadlineError(cause)) return true;
  return isGrpcServiceError(cause) && (cause.code === UNAVAILABLE || cause.code === DEADLINE_EXCEEDED);
}
