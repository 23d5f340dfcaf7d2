/**
 * Transforms as the API and the worker apply them: on a sandbox thread, under its deadline. What runs
 * on the thread is src/transform/index.ts.
 */
import { TransformError, type TransformDefinition, type TransformInput, type TransformOutcome, type TransformResult } from '../transform/index.ts';
import { EVALUATION_DEADLINE_MS, PREPARATION_DEADLINE_MS, sandbox, SandboxStopped } from './index.ts';

/**
 * Applies a transform on a sandbox thread under EVALUATION_DEADLINE_MS. Throws TransformError when it
 * fails on this input (a runaway stopped at the deadline or at the thread's heap included), and
 * SandboxUnavailable when no thread could run it (Herald's fault, not the transform's).
 */
export async function applyTransform(definition: TransformDefinition, input: TransformInput): Promise<TransformResult> {
  let outcome: TransformOutcome;
  try {
    outcome = await sandbox.run('transform', { definition, input }, { preparationMs: PREPARATION_DEADLINE_MS, deadlineMs: EVALUATION_DEADLINE_MS });
  } catch (err) {
    // Which expression ran away is not known once its thread is gone: a lone body is named, else the whole transform.
    if (err instanceof SandboxStopped) throw new TransformError(definition.headers && Object.keys(definition.headers).length ? 'transform' : 'transform.body', err.message);
    throw err;
  }
  if ('result' in outcome) return outcome.result;
  const { field, reason, position, noResult, atCompile } = outcome.failure;
  throw new TransformError(field, reason, position, noResult, atCompile);
}

/**
 * Why a transform cannot be used: a syntax error, a regex (`onSample` false), or a failure (runaway
 * included) on a sample event. Undefined when it compiles and runs. Both checked on a sandbox
 * thread: compiling a long path alone (`event.data.x.x…`, 5,000 steps) took 1.5 s.
 */
export async function transformProblem(definition: TransformDefinition, input: TransformInput): Promise<{ field: string; message: string; onSample: boolean } | undefined> {
  try {
    await applyTransform(definition, input);
    return undefined;
  } catch (err) {
    if (!(err instanceof TransformError)) throw err;
    // The sample's data is not the tenant's: a path that finds nothing in it is no mistake.
    if (err.noResult) return undefined;
    return { field: err.field, message: err.explanation, onSample: !err.atCompile };
  }
}
