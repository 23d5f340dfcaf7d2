// A sandbox thread for the pool's own tests (test/unit/sandbox.test.ts): tasks that spin, allocate or fail on demand.
import { parentPort, threadId } from 'node:worker_threads';

const spin = (ms) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
};
const tasks = {
  echo: (value) => value,
  threadId: () => threadId,
  spin: (ms) => {
    spin(ms);
    return 'spun';
  },
  prepareThenSpin: ({ prepareMs, spinMs }, evaluating) => {
    spin(prepareMs);
    evaluating();
    spin(spinMs);
    return 'spun';
  },
  allocate: () => {
    const kept = [];
    for (;;) kept.push(new Array(1_000_000).fill(kept.length));
  },
  fail: (message) => {
    throw new Error(message);
  },
};

parentPort.on('message', async ({ id, task, input }) => {
  try {
    parentPort.postMessage({ id, value: await tasks[task](input, () => parentPort.postMessage({ id, evaluating: true })) });
  } catch (err) {
    parentPort.postMessage({ id, error: err.message });
  }
});
parentPort.postMessage('ready');
