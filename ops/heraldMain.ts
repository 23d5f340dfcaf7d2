import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
/** Set by test/run.ts: processes the tests start run this prebuilt copy of src/main.ts. */
const prebuiltVariable = 'HERALD_TEST_PREBUILT_MAIN';

/**
 * The node arguments that run Herald's `role` from the repository: `--import tsx src/main.ts <role>`, as
 * `npm start` does, or the prebuilt copy `buildHeraldMain` made when HERALD_TEST_PREBUILT_MAIN names it
 * (the test runner's Herald processes: tsx would transpile and hook every module again at each start).
 */
export function heraldMainArgs(role: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const prebuilt = env[prebuiltVariable];
  return prebuilt ? [prebuilt, role] : ['--import', 'tsx', path.join(repoRoot, 'src/main.ts'), role];
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
 * Builds src/main.ts and everything of the repository it imports into one ES module, packages left
 * to Node (they load from node_modules as they would under tsx), in a temp dir inside the repository
 * (node_modules/.cache, where Node finds the packages and git looks away); answers the environment
 * that has `heraldMainArgs` start it, and the build's removal.
 */
export async function buildHeraldMain(): Promise<{ env: Record<string, string>; remove(): void }> {
  const parent = path.join(repoRoot, 'node_modules', '.cache', 'herald-tests');
  fs.mkdirSync(parent, { recursive: true });
  const dir = fs.mkdtempSync(path.join(parent, 'main-'));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  const outfile = path.join(dir, 'main.mjs');
  try {
    await build({
      entryPoints: [path.join(repoRoot, 'src/main.ts')], outfile, bundle: true, packages: 'external',
      platform: 'node', format: 'esm', target: `node${process.versions.node}`, plugins: [ownImportMeta], logLevel: 'error',
    });
  } catch (err) {
    remove();
    throw err;
  }
  return { env: { [prebuiltVariable]: outfile }, remove };
}
