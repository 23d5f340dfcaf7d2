/**
 * `npm test`'s runner: builds what every test file would otherwise build for itself
 * (test/support/suiteSetup.ts), then runs the files with node:test, several at once
 * (HERALD_TEST_CONCURRENCY, default 3): each file is a process of its own with its own servers, ports
 * and data dirs, and much of a file's time is spent waiting on timers and other processes. The files
 * run prebuilt for plain Node (buildTestFiles; HERALD_TEST_TSX=1 runs their sources under tsx). Prints
 * each file's wall time at the end, slowest first. Arguments, when given, are the files to run; without them, the
 * whole suite runs, type-checked first. Exits non-zero when any test fails.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { createLogger } from '../src/logger.ts';
import { buildTestFiles, prepareSuite } from './support/suiteSetup.ts';

const suites = ['test/unit', 'test/workflow', 'test/integration', 'test/conformance', 'test/cluster', 'test/browser'];
/**
 * Files that run first, on their own: fanout loads the machine by design (2,100 one-MiB attempts, and the 2,100
 * endpoints created through the API before them). Beside two other heavy files its attempts now keep within their
 * deadlines, but at load 19–26 its endpoint creation twice failed with a reset connection, which alone it never did.
 */
const alone = ['test/integration/fanout.test.ts'];
/**
 * The longest files (this runner's report of the last full run), started first so that none is left running alone at
 * the end. The chaos slice leads: its time is mostly the soak's own clock (50 s of sending, then draining), whatever else runs.
 */
const slowest = [
  'test/cluster/chaos.test.ts', 'test/integration/separateProcesses.test.ts', 'test/integration/temporalServerCrashes.test.ts',
  'test/integration/restarts.test.ts', 'test/integration/tenantDeletion.test.ts', 'test/integration/deliveries.test.ts',
  'test/integration/cli.test.ts', 'test/integration/badInput.test.ts', 'test/integration/payloadRetention.test.ts',
  'test/browser/portal.test.ts', 'test/workflow/fifo.test.ts', 'test/browser/portalReach.test.ts',
  'test/integration/payloadEncryption.test.ts', 'test/integration/filtersAndChannels.test.ts', 'test/workflow/circuitBreaker.test.ts',
  'test/integration/health.test.ts', 'test/integration/endpointAuth.test.ts', 'test/browser/webUi.test.ts', 'test/integration/traces.test.ts',
];
const all = suites.flatMap((dir) => fs.readdirSync(dir).filter((name) => name.endsWith('.test.ts')).sort().map((name) => path.join(dir, name)));
const wholeSuite = process.argv.length <= 2;
const files = wholeSuite ? [...slowest.filter((file) => all.includes(file)), ...all.filter((file) => !slowest.includes(file))] : process.argv.slice(2);
const concurrency = Number(process.env.HERALD_TEST_CONCURRENCY ?? 3);

const started = Date.now();
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
/**
 * `tsc --noEmit`, for the whole suite: beside the set-up, which leaves a core mostly free for its 9 s, rather than
 * before it. Answers its output when types do not check.
 */
function typeErrors(): Promise<string | undefined> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  return new Promise((resolve) => execFile(process.execPath, [tsc, '--noEmit'], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve(err ? `${stdout}${stderr}` || String(err) : undefined)));
}
/**
 * The suite's temp files (data dirs with their PGlite copies, the dev servers' SQLite, the set-up) on tmpfs where the
 * machine has room there: on this VM's ext4 creating the 1,042 files of one PGlite copy cost 1.1 s of CPU in the
 * kernel, on tmpfs 0.07 s, and PGlite's and SQLite's writes are cheaper too (the suite's CPU 875–993 s → 785 s).
 * HERALD_TEST_TMPDIR overrides; the runner removes what is left at exit.
 */
function suiteTempDir(): string | undefined {
  const parent = process.env.HERALD_TEST_TMPDIR ?? '/dev/shm';
  try {
    const { bavail, bsize } = fs.statfsSync(parent);
    if (bavail * bsize < 4 * 2 ** 30) return undefined;
    const dir = fs.mkdtempSync(path.join(parent, 'herald-tests-'));
    fs.chmodSync(dir, 0o1777); // as /tmp: the tests' PostgreSQL runs as another user, who must reach its dir
    return dir;
  } catch {
    return undefined;
  }
}
const tempDir = suiteTempDir();
if (tempDir) process.env.TMPDIR = tempDir; // os.tmpdir() here and in every process the files start
const [suite, prebuilt, typeCheck] = await Promise.all([
  prepareSuite(createLogger(process.env.LOG_LEVEL ?? 'warn')),
  process.env.HERALD_TEST_TSX === '1' ? undefined : buildTestFiles(files),
  wholeSuite ? typeErrors() : undefined,
]);
process.on('exit', () => (suite.remove(), prebuilt?.remove(), tempDir && fs.rmSync(tempDir, { recursive: true, force: true })));
// Ctrl-C too: tmpfs is memory until removed.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));
if (typeCheck) {
  console.error(`tsc --noEmit found type errors; no test ran:\n${typeCheck}`);
  process.exit(1);
}
// node:test starts each file's process with this process's flags: tsx only for the sources, source maps for the builds.
if (prebuilt) process.execArgv = ['--enable-source-maps'];
const sourceOf = new Map([...(prebuilt?.built ?? [])].map(([file, built]) => [built, file]));
Object.assign(process.env, suite.env); // the test files' processes inherit it
console.log(`shared set-up ready in ${seconds(Date.now() - started)}; ${files.length} test files, ${concurrency} at once; temp files in ${os.tmpdir()}`);

const fileTimes: { file: string; ms: number; passed: boolean }[] = [];
/** Runs `batch` with node:test (its processes with this process's flags); resolves once reported. */
function runFiles(batch: string[], filesAtOnce: number): Promise<void> {
  const tests = run({ files: batch.map((file) => prebuilt?.built.get(file) ?? path.resolve(file)), concurrency: filesAtOnce, timeout: 600_000 });
  tests.on('test:fail', () => (process.exitCode = 1));
  tests.on('test:complete', (test) => {
    // node:test reports each file as a test named by its path, complete when its process has exited.
    if (test.file && test.name === test.file) fileTimes.push({ file: sourceOf.get(test.file) ?? path.relative(process.cwd(), test.file), ms: test.details.duration_ms, passed: test.details.passed });
  });
  const report = tests.compose(new spec());
  report.pipe(process.stdout, { end: false });
  return new Promise((resolve) => report.on('end', resolve));
}

const onTheirOwn = files.filter((file) => alone.includes(file));
if (onTheirOwn.length) await runFiles(onTheirOwn, 1);
const sideBySide = files.filter((file) => !alone.includes(file));
if (sideBySide.length) await runFiles(sideBySide, concurrency);

const width = Math.max(0, ...fileTimes.map((f) => f.file.length));
console.log('\nWall time per test file (several run at once):');
for (const { file, ms, passed } of fileTimes.sort((a, b) => b.ms - a.ms)) console.log(`  ${file.padEnd(width)}  ${seconds(ms).padStart(8)}${passed ? '' : '  FAILED'}`);
console.log(`npm test: ${seconds(Date.now() - started)} in all, set-up included`);
