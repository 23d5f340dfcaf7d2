import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { buildHeraldMain, heraldMainArgs } from '../../ops/heraldMain.ts';

// The test runner starts Herald processes from this prebuilt copy of src/main.ts: every module of it
// loads there (paths resolved at load from each file's own place included), and it says what tsx's does.
test('the prebuilt main loads all of Herald and answers as `tsx src/main.ts` does', async () => {
  const main = await buildHeraldMain();
  try {
    const run = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, heraldMainArgs('nonsense', env), { encoding: 'utf8', timeout: 120_000 });
    const prebuilt = run(main.env);
    const fromSource = run({ HERALD_TEST_PREBUILT_MAIN: '' });
    assert.equal(prebuilt.status, 2, prebuilt.stderr);
    assert.equal(prebuilt.stderr, 'usage: tsx src/main.ts [all|api|worker]\n');
    assert.deepEqual([prebuilt.status, prebuilt.stderr], [fromSource.status, fromSource.stderr]);
  } finally {
    main.remove();
  }
});
