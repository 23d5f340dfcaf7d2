/**
 * `npm test`'s runner: builds what every test file would otherwise build for itself
 * (test/support/suiteSetup.ts), then runs the files with node:test, several at once
 * (HERALD_TEST_CONCURRENCY, default 3): each file is a process of its own with its own servers, ports
 * and data dirs, and most of a file's time is spent waiting on timers and other processes. Prints each
 * file's wall time at the end (test/support/fileTimes.mjs). Arguments, when given, are the files to run.
 * Exits non-zero when any test fails.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createLogger } from '../src/logger.ts';
import { prepareSuite } from './support/suiteSetup.ts';

// The folders whose files take longest first, so they do not start last and run on alone.
const suites = ['test/cluster', 'test/integration', 'test/conformance', 'test/workflow', 'test/unit'];
const files = process.argv.length > 2
  ? process.argv.slice(2)
  : suites.flatMap((dir) => fs.readdirSync(dir).filter((name) => name.endsWith('.test.ts')).sort().map((name) => path.join(dir, name)));
const concurrency = process.env.HERALD_TEST_CONCURRENCY ?? '3';

const started = Date.now();
const suite = await prepareSuite(createLogger(process.env.LOG_LEVEL ?? 'warn'));
console.log(`shared set-up ready in ${((Date.now() - started) / 1000).toFixed(1)} s; ${files.length} test files, ${concurrency} at once`);

const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=./test/support/fileTimes.mjs', '--test-reporter-destination=stdout'];
const run = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', ...reporters, ...files], {
  stdio: 'inherit',
  env: { ...process.env, ...suite.env },
});
// Ctrl-C reaches the runner and the test files alike (one process group); a SIGTERM is passed on.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => run.kill('SIGTERM'));
run.on('exit', (code, signal) => {
  suite.remove();
  console.log(`npm test: ${((Date.now() - started) / 1000).toFixed(0)} s of tests`);
  process.exit(code ?? (signal ? 1 : 0));
});
