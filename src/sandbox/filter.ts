/**
 * Endpoint filters as ingest and the endpoints API evaluate them: on a sandbox thread, under the
 * deadline transforms have. What runs on the thread is src/transform/filter.ts.
 */
import { sampleInput } from '../transform/index.ts';
import { failureText, FILTER_FIELD, type FilterInput, type FilterOutcome } from '../transform/filter.ts';
import { EVALUATION_DEADLINE_MS, PREPARATION_DEADLINE_MS, sandbox, SandboxStopped } from './index.ts';

/**
 * Each filter's verdict on one event, in order, from one sandbox task. A runaway is stopped at the
 * deadline (or the thread's heap) and takes its thread with it, so which filter ran away is not
 * known: each is then tried again on its own, and the one stopped alone fails. Throws
 * SandboxUnavailable when no thread could run them (Herald's fault, not the filters').
 */
export async function judgeFilters(sources: string[], input: FilterInput): Promise<FilterOutcome[]> {
  try {
    return await sandbox.run('filters', { sources, input }, { preparationMs: PREPARATION_DEADLINE_MS, deadlineMs: EVALUATION_DEADLINE_MS });
  } catch (err) {
    if (!(err instanceof SandboxStopped)) throw err;
    if (sources.length === 1) return [{ failure: { reason: err.message, atCompile: err.kind === 'preparation' } }];
    return (await Promise.all(sources.map((source) => judgeFilters([source], input)))).flat();
  }
}

/** The event a filter is tried on when an endpoint is created or changed: a transform's sample, in the endpoint's channels. */
export function sampleFilterInput(endpoint: Parameters<typeof sampleInput>[0] & { channels: string[] | null }): FilterInput {
  return { event: { ...sampleInput(endpoint).event, channels: endpoint.channels ?? [], tags: [] } };
}

/**
 * Why a filter cannot be used, naming the field: it does not compile (a syntax error, a regex), or on
 * the sample event it fails, runs away, or gives something other than true or false. Giving nothing
 * on the sample is no mistake: its data is not the tenant's.
 */
export async function filterProblem(source: string, input: FilterInput): Promise<{ field: string; message: string } | undefined> {
  const [outcome] = await judgeFilters([source], input);
  if (!outcome || !('failure' in outcome)) return undefined;
  const { failure } = outcome;
  return { field: FILTER_FIELD, message: failure.atCompile ? failureText(failure) : `${failureText(failure)}, on a sample event` };
}
