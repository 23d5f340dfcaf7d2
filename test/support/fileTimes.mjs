/**
 * A node:test reporter that prints, once every file has run, each test file's wall time (its
 * process, from start to exit: imports, hooks and tests), slowest first, with the files that failed
 * marked. test/run.ts adds it beside the usual spec reporter so slow files stay in sight.
 */
import path from 'node:path';

// Plain JavaScript: node:test loads reporters before tsx is registered.
/** @param {AsyncIterable<import('node:test/reporters').TestEvent>} source */
export default async function* fileTimes(source) {
  /** @type {{ file: string; ms: number; passed: boolean }[]} */
  const files = [];
  for await (const event of source) {
    // Node reports each file as a test of its own, named by its path, complete when its process exits.
    if (event.type === 'test:complete' && event.data.file && event.data.name === event.data.file) {
      files.push({ file: path.relative(process.cwd(), event.data.file), ms: event.data.details.duration_ms, passed: event.data.details.passed });
    }
  }
  if (!files.length) return;
  const width = Math.max(...files.map((f) => f.file.length));
  yield '\nWall time per test file (several run at once):\n';
  for (const { file, ms, passed } of files.sort((a, b) => b.ms - a.ms)) {
    yield `  ${file.padEnd(width)}  ${(ms / 1000).toFixed(1).padStart(6)} s${passed ? '' : '  FAILED'}\n`;
  }
}
