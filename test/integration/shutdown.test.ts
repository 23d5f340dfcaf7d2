import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import { freePort } from '../support/ports.ts';
import { Receiver } from '../support/receiver.ts';

test('SIGTERM during an attempt stops Herald cleanly; after a restart the delivery completes under the same webhook-id', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-shutdown-'));
  const port = await freePort();
  const env = {
    ...process.env, PORT: String(port), HERALD_HOST: '127.0.0.1', HERALD_DATA_DIR: dataDir, LOG_LEVEL: 'warn',
    HERALD_DEV_SERVER_PORT: String(await freePort()), HERALD_UI_PORT: String(await freePort()), HERALD_TEMPORAL_METRICS_PORT: '0',
  };
  const api = `http://127.0.0.1:${port}`;
  const receiver = await Receiver.start();
  // Herald as `npm start` runs it: its own process, embedded Temporal and PGlite under the data dir.
  const startHerald = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: 'ignore' });
    await eventually(() => fetch(`${api}/readyz`).then((r) => r.status, () => 0), (status) => status === 200, 90_000, 200);
    return child;
  };
  const stopHerald = async (child: ChildProcess) => {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    return (await exited)[0] as number | null;
  };
  let herald = await startHerald();
  try {
    const url = receiver.script('/slow', 'hang', { status: 200 });
    const created = await fetch(`${api}/v1/endpoints`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url, timeoutMs: 30_000 }),
    }).then((r) => r.json());
    const accepted = await fetch(`${api}/v1/events`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'ord-77', type: 'order.paid', data: { total: 9 } }),
    });
    assert.equal(accepted.status, 202);
    await receiver.waitFor('/slow', 1);

    assert.equal(await stopHerald(herald), 0, 'Herald exits cleanly with an attempt in flight');
    herald = await startHerald();

    const [first, second] = await receiver.waitFor('/slow', 2, 90_000);
    assert.equal(first!.headers['webhook-id'], second!.headers['webhook-id']);
    const deliveryId = `delivery:default:ord-77:${created.id}`;
    const status = await eventually(() => fetch(`${api}/v1/deliveries/${deliveryId}`).then((r) => r.json()), (s) => s.status === 'delivered');
    assert.deepEqual(status.attempts.map((a: { statusCode: number }) => a.statusCode), [200], 'the interrupted attempt ran again; it is not a failure');
  } finally {
    await stopHerald(herald);
    await receiver.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
