/** One sandbox thread: runs the tasks the pool posts, one at a time, and answers each by its id. */
import { parentPort } from 'node:worker_threads';
import { sandboxTasks } from './tasks.ts';

const port = parentPort!;
port.on('message', async ({ id, task, input }: { id: number; task: keyof typeof sandboxTasks; input: never }) => {
  try {
    port.postMessage({ id, value: await sandboxTasks[task](input, () => port.postMessage({ id, evaluating: true })) });
  } catch (err) {
    port.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
port.postMessage('ready');
