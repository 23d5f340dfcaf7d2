import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startDevServer } from '../../src/temporal/devServer.ts';
import { eventually } from '../support/eventually.ts';
import { startTestHerald } from '../support/herald.ts';
import { freePort } from '../support/ports.ts';
import { newTestDataDir } from '../support/suiteSetup.ts';

test('when Temporal goes away, /readyz says so and ingest answers 503 with Retry-After instead of accepting', async () => {
  // Herald uses a Temporal server this test owns (TEMPORAL_ADDRESS), so the test can stop it.
  const dataDir = await newTestDataDir('herald-health-', { embeddedDatabase: true });
  const temporal = await startDevServer({
    cacheDir: loadConfig().cacheDir, dataDir, port: await freePort(), uiPort: 0, namespace: 'default',
    retentionDays: 1, headless: true, logger: createLogger('silent'),
  });
  const herald = await startTestHerald({ TEMPORAL_ADDRESS: temporal.address, HERALD_DATA_DIR: dataDir });
  try {
    const ready = await herald.api('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready', temporal: 'ok', storage: 'ok' });

    await temporal.stop();
    const notReady = await eventually(() => herald.api('GET', '/readyz'), (r) => r.status === 503);
    assert.deepEqual(notReady.body, { status: 'not ready', temporal: 'unreachable', storage: 'ok' });
    assert.equal((await herald.api('GET', '/healthz')).status, 200, 'the process itself is alive');

    const ingest = await herald.api('POST', '/v1/events', { id: 'during-outage', type: 'order.submitted', data: {} });
    assert.equal(ingest.status, 503);
    assert.equal(ingest.headers.get('retry-after'), '5');
    assert.equal(ingest.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  } finally {
    await temporal.stop();
    await herald.stop();
    fs.rmSync(dataDir, { recursive: true, force: true }); // the test's own: startTestHerald keeps a data dir it was given
  }
});
