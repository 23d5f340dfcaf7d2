/**
 * The process's sandbox: every evaluation of tenant input (transforms, JSON Schemas) runs on one of
 * its threads under EVALUATION_DEADLINE_MS, so none can hold the API's or a worker's event loop.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { SandboxPool } from './pool.ts';
import type { SandboxTasks } from './tasks.ts';

export { SandboxStopped, SandboxUnavailable } from './pool.ts';

/** How long one evaluation may run (a transform's body and headers together, one check of data) before its thread is stopped. */
export const EVALUATION_DEADLINE_MS = 500;
/**
 * How long compiling what is evaluated (a schema, an expression) may take first. Bounded by the
 * size of its source (MAX_SCHEMA_VALUES, 20,000 characters): about 0.2 s on a loaded 2-vCPU machine.
 */
export const PREPARATION_DEADLINE_MS = 5_000;
/** The heap of a sandbox thread: a 1 MiB event and what a transform builds from it fit many times over. */
export const SANDBOX_HEAP_MB = 256;

/**
 * The thread's code (./thread.ts and what it imports) as one script, made once per process with
 * esbuild (which tsx runs on): a thread then starts in about 0.1 s, where loading tsx and each module
 * into every new thread took a second or more, and a thread is replaced after every runaway.
 */
async function threadScript(): Promise<string> {
  const bundled = await build({
    entryPoints: [fileURLToPath(new URL('./thread.ts', import.meta.url))],
    bundle: true, platform: 'node', format: 'cjs', target: 'node20', write: false, logLevel: 'silent',
  });
  return bundled.outputFiles[0]!.text;
}

export const sandbox = new SandboxPool<SandboxTasks>({
  script: threadScript,
  // Two at least: a thread being replaced after a runaway still leaves one that answers.
  threads: Math.min(4, Math.max(2, os.availableParallelism() - 1)),
  maxOldGenerationSizeMb: SANDBOX_HEAP_MB,
  queueTimeoutMs: 10_000,
});
