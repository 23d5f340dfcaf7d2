import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { SandboxPool, SandboxStopped, SandboxUnavailable } from '../../src/sandbox/pool.ts';

/** The tasks of test/support/sandboxThread.mjs. */
type TestTasks = {
  echo: (value: string) => string;
  threadId: () => number;
  spin: (ms: number) => string;
  prepareThenSpin: (input: { prepareMs: number; spinMs: number }) => string;
  allocate: () => never;
  fail: (message: string) => never;
};

const poolOf = (options: { threads?: number; heapMb?: number; script?: string } = {}) => new SandboxPool<TestTasks>({
  script: new URL(options.script ?? '../support/sandboxThread.mjs', import.meta.url),
  threads: options.threads ?? 1,
  maxOldGenerationSizeMb: options.heapMb ?? 64,
  queueTimeoutMs: 60_000,
});
const stopped = (kind: SandboxStopped['kind']) => (err: unknown) => err instanceof SandboxStopped && err.kind === kind;

describe('sandbox pool', () => {
  const pools: SandboxPool<TestTasks>[] = [];
  const pool = (options?: Parameters<typeof poolOf>[0]) => {
    const created = poolOf(options);
    pools.push(created);
    return created;
  };
  after(() => Promise.all(pools.map((p) => p.close())));

  test('a task past its deadline is stopped, its thread replaced, and the next task runs on the new thread', async () => {
    const sandbox = pool();
    const first = await sandbox.run('threadId', undefined, { deadlineMs: 10_000 });
    await assert.rejects(sandbox.run('spin', 60_000, { deadlineMs: 200 }), stopped('deadline'));
    const second = await sandbox.run('threadId', undefined, { deadlineMs: 10_000 });
    assert.notEqual(second, first, 'a fresh thread');
    assert.equal(await sandbox.run('echo', 'still here', { deadlineMs: 10_000 }), 'still here');
  });

  test('while one thread is stopped and replaced, tasks already queued run when a thread is free', async () => {
    const sandbox = pool({ threads: 2 });
    const results = await Promise.allSettled([
      sandbox.run('spin', 60_000, { deadlineMs: 200 }),
      sandbox.run('spin', 60_000, { deadlineMs: 200 }),
      sandbox.run('echo', 'a', { deadlineMs: 10_000 }),
      sandbox.run('echo', 'b', { deadlineMs: 10_000 }),
    ]);
    assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as SandboxStopped).kind)), ['deadline', 'deadline', 'a', 'b']);
  });

  test('preparation has its own allowance: the deadline starts when the task says it is evaluating', async () => {
    const sandbox = pool();
    const options = { preparationMs: 5_000, deadlineMs: 300 };
    assert.equal(await sandbox.run('prepareThenSpin', { prepareMs: 500, spinMs: 0 }, options), 'spun');
    await assert.rejects(sandbox.run('prepareThenSpin', { prepareMs: 0, spinMs: 60_000 }, options), stopped('deadline'));
    await assert.rejects(sandbox.run('prepareThenSpin', { prepareMs: 60_000, spinMs: 0 }, { preparationMs: 300, deadlineMs: 300 }), stopped('preparation'));
  });

  test('a task that outgrows the thread heap is stopped as memory, and the pool goes on', async () => {
    const sandbox = pool({ heapMb: 32 });
    await assert.rejects(sandbox.run('allocate', undefined, { deadlineMs: 60_000 }), stopped('memory'));
    assert.equal(await sandbox.run('echo', 'after', { deadlineMs: 10_000 }), 'after');
  });

  test("a task's own error comes back as an error, not as a stop, and its thread stays", async () => {
    const sandbox = pool();
    const thread = await sandbox.run('threadId', undefined, { deadlineMs: 10_000 });
    await assert.rejects(sandbox.run('fail', 'boom', { deadlineMs: 10_000 }), (err: unknown) => err instanceof Error && !(err instanceof SandboxStopped) && err.message === 'boom');
    assert.equal(await sandbox.run('threadId', undefined, { deadlineMs: 10_000 }), thread);
  });

  test('a thread that cannot start fails its tasks as unavailable (Herald\'s fault), not as stopped', async () => {
    const sandbox = pool({ script: '../support/no-such-thread.mjs' });
    await assert.rejects(sandbox.run('echo', 'x', { deadlineMs: 10_000 }), (err: unknown) => err instanceof SandboxUnavailable && /could not be started/.test(err.message));
  });
});
