import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.ts';

test('HERALD_WORKFLOW_BUNDLE: a file is taken as the prebuilt bundle; a path that is no file is a configuration error naming it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-bundle-'));
  try {
    const bundle = path.join(dir, 'workflow-bundle.js');
    fs.writeFileSync(bundle, '');
    assert.equal(loadConfig({ HERALD_WORKFLOW_BUNDLE: bundle }).workflowBundlePath, bundle);
    assert.equal(loadConfig({}).workflowBundlePath, undefined);
    for (const notAFile of [path.join(dir, 'missing.js'), dir]) {
      assert.throws(() => loadConfig({ HERALD_WORKFLOW_BUNDLE: notAFile }), /HERALD_WORKFLOW_BUNDLE: no such file/);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
