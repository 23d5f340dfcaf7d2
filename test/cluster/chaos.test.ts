import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { clusterTarget, formatReport, runChaos } from '../../ops/chaos.ts';
import { createLogger } from '../../src/logger.ts';

// The CI slice of `npm run chaos` (docs/chaos.md has the full soak): the real cluster of
// `npm run cluster` (Temporal multi-service on PostgreSQL, two worker processes), real receivers,
// judged from the receivers' own logs.
test('on the cluster, 200 events reach all three endpoints through 5 worker kills, a Temporal and a PostgreSQL restart', { timeout: 15 * 60_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chaos-test-'));
  const target = await clusterTarget({
    dir, cacheDir: process.env.HERALD_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'herald'), workers: 2, logger: createLogger('warn'),
  });
  let report;
  try {
    report = await runChaos(target, {
      events: 200, rate: 4, workerKills: 5, temporalRestarts: 1, postgresRestarts: 1,
      dir, seed: 14, drainTimeoutMs: 8 * 60_000, logger: createLogger('warn'),
    });
  } finally {
    await target.stop();
  }
  const summary = `${formatReport(report)}\n(logs in ${dir})`;
  t.diagnostic(formatReport(report));
  assert.equal(report.events.accepted, 200, summary);
  assert.deepEqual(report.crashes, { workerKills: 5, temporalRestarts: 1, postgresRestarts: 1 }, summary);
  assert.equal(report.lost, 0, summary);
  assert.deepEqual(report.idViolations, [], summary);
  assert.equal(report.unexpected, 0, summary);
  assert.ok(report.passed, summary);
  fs.rmSync(dir, { recursive: true, force: true });
});
