import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
/** Set by test/run.ts: processes the tests start run this prebuilt copy of src/main.ts. */
const prebuiltVariable = 'HERALD_TEST_PREBUILT_MAIN';
/** Set by test/run.ts: the CLI's tests run this prebuilt copy of src/cli.ts. */
const prebuiltCliVariable = 'HERALD_TEST_PREBUILT_CLI';

/**
 * The node arguments that run Herald's `role` from the repository: `--import tsx src/main.ts <role>`, as
 * `npm start` does, or the prebuilt copy `buildHeraldMain` made when HERALD_TEST_PREBUILT_MAIN names it
 * (the test runner's Herald processes: tsx would transpile and hook every module again at each start).
 */
export function heraldMainArgs(role: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const prebuilt = env[prebuiltVariable];
  return prebuilt ? [prebuilt, role] : ['--import', 'tsx', path.join(repoRoot, 'src/main.ts'), role];
}

/**
 * The node arguments that run `herald <args>`: bin/herald.js (src/cli.ts through tsx), as `npx herald` does, or
 * the prebuilt copy `buildHeraldMain` made when HERALD_TEST_PREBUILT_CLI names it (0.1 s of CPU a command, not 0.7).
 */
export function heraldCliArgs(args: string[], env: NodeJS.ProcessEnv = process.env): string[] {
  return [env[prebuiltCliVariable] || path.join(repoRoot, 'bin/herald.js'), ...args];
}

/** Spelled in two parts: the test files' build (test/support/suiteSetup.ts) takes this file in, and its own text must not match. */
const importMeta = ['import', 'meta'].join('.');

/**
 * Each TypeScript file keeps its own import-meta object: paths it resolves from its own place (the
 * workflows, package.json, the portal's files, the sandbox's thread) resolve as they do under tsx.
 */
export const ownImportMeta: Plugin = {
  name: 'own-import-meta',
  setup(builder) {
    builder.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await fs.promises.readFile(args.path, 'utf8');
      const contents = source
        .replaceAll(`${importMeta}.url`, JSON.stringify(pathToFileURL(args.path).href))
        .replaceAll(`${importMeta}.dirname`, JSON.stringify(path.dirname(args.path)))
        .replaceAll(`${importMeta}.filename`, JSON.stringify(args.path));
      if (contents.includes(importMeta)) throw new Error(`${args.path}: an ${importMeta} use the prebuilt build does not carry over`);
      return { contents, loader: 'ts' };
    });
  },
};

/**
 * Builds src/main.ts, and src/cli.ts, each with everything of the repository it imports into one ES module, packages left
 * to Node (they load from node_modules as they would under tsx), in a temp dir inside the repository
 * (node_modules/.cache, where Node finds the packages and git looks away); answers the environment
 * that has `heraldMainArgs` and `heraldCliArgs` run them, and the build's removal.
 */
export async function buildHeraldMain(): Promise<{ env: Record<string, string>; remove(): void }> {
  const parent = path.join(repoRoot, 'node_modules', '.cache', 'herald-tests');
  fs.mkdirSync(parent, { recursive: true });
  const dir = fs.mkdtempSync(path.join(parent, 'main-'));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    await build({
      entryPoints: { main: path.join(repoRoot, 'src/main.ts'), cli: path.join(repoRoot, 'src/cli.ts') }, outdir: dir, outExtension: { '.js': '.mjs' },
      bundle: true, packages: 'external', platform: 'node', format: 'esm', target: `node${process.versions.node}`, plugins: [ownImportMeta], logLevel: 'error',
    });
  } catch (err) {
    remove();
    throw err;
  }
  return { env: { [prebuiltVariable]: path.join(dir, 'main.mjs'), [prebuiltCliVariable]: path.join(dir, 'cli.mjs') }, remove };
}
