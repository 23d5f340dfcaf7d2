/**
 * Set-up the whole suite shares, done once by test/run.ts before the test files start: the workflow
 * bundle (seconds of webpack per Herald otherwise), a PGlite cluster with Herald's migrations applied
 * (a fresh cluster takes 15–20 s to create; a copy of this one opens in about 3) and its dump for
 * the in-memory databases (openTestMemoryDb), and src/main.ts
 * prebuilt for the Herald processes the tests start (ops/heraldMain.ts). Each file still gets
 * its own copy and its own servers: files share nothing they could change. A file run on its own,
 * without the runner, builds both itself.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { WorkerOptions } from '@temporalio/worker';
import { build } from 'esbuild';
import { buildHeraldMain, ownImportMeta } from '../../ops/heraldMain.ts';
import type { Logger } from '../../src/logger.ts';
import { openDb, type Db } from '../../src/storage/db.ts';
import { bundleWorkflows } from '../../src/worker.ts';

/** Herald's own setting: Herald processes the tests start inherit it and skip their bundling too. */
const bundleVariable = 'HERALD_WORKFLOW_BUNDLE';
const pgliteTemplateVariable = 'HERALD_TEST_PGLITE_TEMPLATE';
const pgliteDumpVariable = 'HERALD_TEST_PGLITE_DUMP';

/** Builds the shared set-up under a temp dir; answers the environment that hands it to the test files, and its removal. */
export async function prepareSuite(logger: Logger): Promise<{ env: Record<string, string>; remove(): void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-suite-'));
  let removeMain = () => {};
  const remove = () => {
    removeMain();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const bundlePath = path.join(dir, 'workflow-bundle.js');
    // openDb puts the cluster in <dataDir>/pglite, where every Herald data dir keeps it.
    const template = path.join(dir, 'pglite-template');
    const cluster = path.join(template, 'pglite');
    const dumpPath = path.join(dir, 'pglite-template.tar');
    const [main] = await Promise.all([
      buildHeraldMain(),
      bundleWorkflows(logger).then(({ code }) => fs.writeFileSync(bundlePath, code)),
      openDb({ dataDir: template }).then(async (db) => {
        await db.close();
        const pglite = await PGlite.create(cluster);
        const dump = await pglite.dumpDataDir('none');
        await pglite.close();
        fs.writeFileSync(dumpPath, Buffer.from(await dump.arrayBuffer()));
      }),
    ]);
    removeMain = main.remove;
    return { env: { ...main.env, [bundleVariable]: bundlePath, [pgliteTemplateVariable]: cluster, [pgliteDumpVariable]: dumpPath }, remove };
  } catch (err) {
    remove();
    throw err;
  }
}

/**
 * The test files built for plain Node (esbuild, as ops/heraldMain.ts builds Herald's main: packages left to
 * node_modules, each TypeScript file its own import-meta object, what files share in common chunks), with source maps,
 * in a temp dir inside the repository. Under tsx, whose loader runs on a thread of its own in Node 20, a file's
 * process spends 0.7 s (a unit file) to 2 s (a file with a Herald in it) of CPU more. Answers each file's build.
 */
export async function buildTestFiles(files: string[]): Promise<{ built: Map<string, string>; remove(): void }> {
  const root = path.resolve(import.meta.dirname, '../..');
  const parent = path.join(root, 'node_modules', '.cache', 'herald-tests');
  fs.mkdirSync(parent, { recursive: true });
  const dir = fs.mkdtempSync(path.join(parent, 'tests-'));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  // The package's own exports (`herald/receiver`) resolve only from inside the repository, to TypeScript: built in too.
  const { name, exports } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; exports: Record<string, string> };
  const alias = Object.fromEntries(Object.entries(exports).map(([subpath, file]) => [path.posix.join(name, subpath), path.resolve(root, file)]));
  try {
    await build({
      entryPoints: files.map((file) => path.resolve(root, file)), outdir: dir, outbase: root, outExtension: { '.js': '.mjs' },
      bundle: true, splitting: true, packages: 'external', alias, sourcemap: 'linked',
      platform: 'node', format: 'esm', target: `node${process.versions.node}`, plugins: [ownImportMeta], logLevel: 'error',
    });
  } catch (err) {
    remove();
    throw err;
  }
  const built = new Map(files.map((file) => [file, path.join(dir, path.relative(root, path.resolve(root, file)).replace(/\.ts$/, '.mjs'))]));
  return { built, remove };
}

/** The suite's workflow bundle, or one built now when this file runs on its own. */
export async function testWorkflowBundle(logger: Logger): Promise<NonNullable<WorkerOptions['workflowBundle']>> {
  const codePath = process.env[bundleVariable];
  return codePath ? { codePath } : bundleWorkflows(logger);
}

/** Herald's database in memory, migrated: from the suite's dump when run by test/run.ts, else a new cluster. */
export async function openTestMemoryDb(): Promise<Db> {
  const dump = process.env[pgliteDumpVariable];
  return openDb({ dataDir: 'memory://', memoryFrom: dump ? new Blob([await fs.promises.readFile(dump)]) : undefined });
}

/**
 * A new Herald data dir under the temp dir. With `embeddedDatabase`, it holds a copy of the suite's
 * migrated PGlite cluster (when run by test/run.ts), as if Herald had started there once before.
 * The copy (about 40 MB) does not block the event loop: on a busy machine a synchronous one held the
 * test process for seconds, and the receivers and HTTP clients of the tests beside it with it.
 */
export async function newTestDataDir(prefix: string, options: { embeddedDatabase: boolean }): Promise<string> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const template = process.env[pgliteTemplateVariable];
  if (options.embeddedDatabase && template) await fs.promises.cp(template, path.join(dataDir, 'pglite'), { recursive: true });
  return dataDir;
}
