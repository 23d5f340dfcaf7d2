import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { freeClusterPorts } from '../../ops/ports.ts';
import { startCluster } from '../../ops/topology.ts';
import { isLoopbackHost } from '../../src/exposure.ts';
import { commandLine, listeningSockets, parentPid, socketOwners } from '../../src/listeningSockets.ts';
import { createLogger } from '../../src/logger.ts';

const cacheDir = process.env.HERALD_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'herald');

/** The processes under `root` (its children, theirs, …): here, everything the cluster started. */
function descendants(root: number): Set<number> {
  const children = new Map<number, number[]>();
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number)) {
    const parent = parentPid(pid);
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  const found = new Set<number>();
  for (const queue = [root]; queue.length;) {
    for (const child of children.get(queue.pop()!) ?? []) if (!found.has(child)) queue.push(child), found.add(child);
  }
  return found;
}

// Read from the kernel's socket tables, so a listener counts whoever opened it: PostgreSQL, the
// Temporal server, the Web UI server and Herald's processes alike.
test('npm run cluster listens on loopback only, its Web UI included, and keeps its directory and database passwords to its user', async () => {
  assert.ok(fs.existsSync(path.join(cacheDir, 'temporal-ui-server')), "the Web UI server is provisioned ('npm run provision')");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-loopback-test-'));
  const ports = await freeClusterPorts(1);
  const cluster = await startCluster({ dir, cacheDir, ports, workers: 1, logger: createLogger('warn') });
  try {
    assert.ok(cluster.webUi, 'the Web UI runs');
    const owners = socketOwners(descendants(process.pid));
    const listeners = listeningSockets().filter((socket) => owners.has(socket.inode));
    const listening = new Set(listeners.map((socket) => socket.port));
    const expected = { api: ports.api, webUi: ports.webUi, temporal: ports.temporal.frontend, temporalDb: ports.temporalDb, heraldDb: ports.heraldDb, workerMetrics: ports.workerMetrics(0)[0] };
    for (const [name, port] of Object.entries(expected)) assert.ok(listening.has(port), `${name} listens on ${port}`);
    const exposed = listeners.filter((socket) => !isLoopbackHost(socket.address))
      .map((socket) => `${socket.address.includes(':') ? `[${socket.address}]` : socket.address}:${socket.port} (${commandLine(owners.get(socket.inode)!)})`);
    assert.deepEqual(exposed, [], 'listening beyond loopback');

    // As root, PostgreSQL runs as 'postgres' and passes through the directory as its group.
    assert.equal(fs.statSync(dir).mode & 0o777, os.userInfo().uid === 0 ? 0o710 : 0o700);
    assert.equal(fs.statSync(path.join(dir, 'credentials.json')).mode & 0o777, 0o600);
    for (const [port, user] of [[ports.temporalDb, 'temporal'], [ports.heraldDb, 'herald']] as const) {
      const withFixedPassword = new pg.Client({ host: '127.0.0.1', port, user, password: user, database: 'postgres' });
      await assert.rejects(withFixedPassword.connect(), /password authentication failed/, `${user}'s old fixed password is refused`);
    }
  } finally {
    await cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
