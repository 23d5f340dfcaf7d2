import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { test } from 'node:test';
import { eventually } from '../support/eventually.ts';

const watchdogModule = path.resolve('src/processWatchdog.ts');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const watchdogsOf = (pid: number) => {
  try {
    return execFileSync('pgrep', ['-f', `herald-watchdog ${pid}$`]).toString().trim();
  } catch {
    return ''; // pgrep exits 1 when nothing matches
  }
};

/** A process that starts `sleep` tied to itself and prints the sleep's pid. */
async function parentOf(seconds: number) {
  const script = `import { spawnTiedToThisProcess } from ${JSON.stringify(watchdogModule)};
    const child = spawnTiedToThisProcess('sleep', ['${seconds}'], { stdio: 'ignore' });
    console.log(child.pid);
    setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(parent.stdout!, 'data');
  return { parent, childPid: Number(String(line).trim()) };
}

test('a process killed outright (kill -9, a test runner\'s timeout) takes what it started with it', async () => {
  const { parent, childPid } = await parentOf(300);
  assert.ok(alive(childPid), 'the child runs while its parent does');
  parent.kill('SIGKILL');
  await eventually(async () => alive(childPid), (running) => !running, 15_000);
  await eventually(async () => watchdogsOf(childPid), (watchdogs) => watchdogs === '', 15_000);
});

test('a child that ends by itself leaves no watchdog behind', async () => {
  const { parent, childPid } = await parentOf(0.5);
  try {
    await eventually(async () => alive(childPid) || watchdogsOf(childPid) !== '', (left) => !left, 15_000);
  } finally {
    parent.kill('SIGKILL');
  }
});
