/**
 * A small pool of worker threads that run tenant-shaped work (transforms, JSON Schema checks) under
 * a hard deadline. A synchronous native step (a deep `=`, `$distinct`, a RegExp built by
 * `$toMillis`, Ajv walking a schema) cannot be interrupted by a timer on the thread it runs on; a
 * thread can be stopped from outside. So each task runs on a thread of its own for at most its
 * deadline: then the thread is terminated and replaced, and the caller gets SandboxStopped. The
 * thread's heap is capped (`resourceLimits`), so a task that builds too much is stopped the same way.
 */
import { Worker } from 'node:worker_threads';

/** The tenant's input was stopped: it ran past its deadline or past the thread's memory. */
export class SandboxStopped extends Error {
  constructor(readonly kind: 'deadline' | 'preparation' | 'memory', readonly limit: number) {
    super(kind === 'memory' ? `needed more than ${limit} MB and was stopped` : kind === 'deadline' ? `took longer than the ${limit} ms deadline and was stopped` : `took longer than ${limit} ms to compile and was stopped`);
    this.name = 'SandboxStopped';
  }
}

/** No thread could run the task (none could be started, or none was free in time): Herald's fault, worth retrying. */
export class SandboxUnavailable extends Error {
  constructor(message: string) {
    super(`sandbox unavailable: ${message}`);
    this.name = 'SandboxUnavailable';
  }
}

/**
 * Task functions by name, as the thread script runs them; each takes and gives structured-cloneable
 * values. A task that prepares before it evaluates (compiles a schema or an expression, bounded by
 * the size of its source) calls `evaluating()` in between: the task's deadline starts then.
 */
export type TaskTable = Record<string, (input: never, evaluating: () => void) => unknown>;

export interface SandboxPoolOptions {
  /**
   * The thread's entry, a file or (resolved once, then reused) the code itself: it posts 'ready', then answers each `{ id, task, input }` with `{ id, value }` or
   * `{ id, error }`, having posted `{ id, evaluating: true }` when its preparation is done.
   */
  script: URL | (() => Promise<string>);
  threads: number;
  /** The heap of each thread. */
  maxOldGenerationSizeMb: number;
  /** How long a task may wait for a free thread (all busy, or starting) before it fails as unavailable. */
  queueTimeoutMs: number;
}

interface Task {
  task: string;
  input: unknown;
  deadlineMs: number;
  preparationMs: number;
  resolve(value: unknown): void;
  reject(err: Error): void;
  queueTimer?: NodeJS.Timeout;
}

interface Thread {
  worker: Worker;
  ready: boolean;
  running?: { id: number; task: Task; deadline: NodeJS.Timeout };
}

export class SandboxPool<Tasks extends TaskTable> {
  private readonly threads = new Set<Thread>();
  private readonly queue: Task[] = [];
  private nextId = 0;
  private closed = false;
  /** The threads' code, when the script is made at run time: being made, or made. */
  private code?: 'pending' | { text: string };

  constructor(private readonly options: SandboxPoolOptions) {}

  /**
   * Runs `task` on a thread: its preparation may take `preparationMs` (default none), its evaluation
   * `deadlineMs`. Rejects with SandboxStopped past either or past the memory cap, SandboxUnavailable
   * when no thread runs it.
   */
  run<K extends keyof Tasks & string>(
    task: K, input: Parameters<Tasks[K]>[0], options: { deadlineMs: number; preparationMs?: number },
  ): Promise<Awaited<ReturnType<Tasks[K]>>> {
    if (this.closed) return Promise.reject(new SandboxUnavailable('the pool is closed'));
    return new Promise((resolve, reject) => {
      const queued: Task = { task, input, deadlineMs: options.deadlineMs, preparationMs: options.preparationMs ?? 0, resolve: resolve as (value: unknown) => void, reject };
      queued.queueTimer = setTimeout(() => {
        this.queue.splice(this.queue.indexOf(queued), 1);
        reject(new SandboxUnavailable(`no thread was free within ${this.options.queueTimeoutMs} ms`));
      }, this.options.queueTimeoutMs);
      this.queue.push(queued);
      this.pump();
    });
  }

  /** Starts the threads now rather than at the first task (the sandbox bench, before it times evaluations). */
  warm(): void {
    this.pump();
  }

  /** Terminates every thread; queued and running tasks fail as unavailable. */
  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0)) this.fail(task, new SandboxUnavailable('the pool is closed'));
    await Promise.all([...this.threads].map((thread) => this.discard(thread, new SandboxUnavailable('the pool is closed'))));
  }

  /** Keeps the pool at its size and hands queued tasks to idle threads. */
  private pump(): void {
    if (this.closed) return;
    while (this.threads.size < this.options.threads) {
      if (!this.spawn()) break;
    }
    for (const thread of this.threads) {
      if (!this.queue.length) break;
      if (thread.ready && !thread.running) this.dispatch(thread, this.queue.shift()!);
    }
  }

  private spawn(): boolean {
    const { script } = this.options;
    if (typeof script === 'function') {
      if (this.code === undefined) {
        this.code = 'pending';
        // Once made, the threads start; code that could not be made fails the waiting tasks, and is made again on demand.
        script().then((text) => {
          this.code = { text };
          this.pump();
        }, (err: unknown) => {
          this.code = undefined;
          this.failQueue(`its code could not be made: ${err instanceof Error ? err.message : String(err)}`);
        });
      }
      if (this.code === 'pending') return false;
    }
    let worker: Worker;
    try {
      const resourceLimits = { maxOldGenerationSizeMb: this.options.maxOldGenerationSizeMb };
      worker = typeof script === 'function' ? new Worker((this.code as { text: string }).text, { eval: true, resourceLimits }) : new Worker(script, { resourceLimits });
    } catch (err) {
      this.failQueue(`a thread could not be started: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
    const thread: Thread = { worker, ready: false };
    this.threads.add(thread);
    let lastError: Error | undefined;
    worker.on('message', (message: 'ready' | { id: number; evaluating?: true; value?: unknown; error?: string }) => {
      if (message === 'ready') {
        thread.ready = true;
        // An idle thread does not keep the process alive; one running a task does.
        worker.unref();
        this.pump();
        return;
      }
      const { running } = thread;
      if (!running || running.id !== message.id) return;
      if (message.evaluating) {
        clearTimeout(running.deadline);
        running.deadline = this.stopAt(thread, running.task, 'deadline', running.task.deadlineMs);
        return;
      }
      this.finish(thread);
      if (message.error !== undefined) running.task.reject(new Error(message.error));
      else running.task.resolve(message.value);
      this.pump();
    });
    worker.on('error', (err) => {
      lastError = err;
    });
    worker.on('exit', () => {
      if (!this.threads.delete(thread)) return;
      const { running } = thread;
      if (running) {
        this.finish(thread);
        const outOfMemory = (lastError as NodeJS.ErrnoException | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
        running.task.reject(outOfMemory ? new SandboxStopped('memory', this.options.maxOldGenerationSizeMb) : new SandboxUnavailable(`the thread exited: ${lastError?.message ?? 'no error given'}`));
      }
      if (!thread.ready) {
        // It never started: another would fail the same way, so with no thread running the waiting tasks fail (their callers retry).
        if (![...this.threads].some((other) => other.ready)) this.failQueue(`a thread could not be started: ${lastError?.message ?? 'it exited'}`);
        return;
      }
      this.pump();
    });
    return true;
  }

  private dispatch(thread: Thread, task: Task): void {
    clearTimeout(task.queueTimer);
    const id = this.nextId++;
    // Until the task says it is evaluating, it has its preparation time and its deadline.
    const deadline = this.stopAt(thread, task, task.preparationMs ? 'preparation' : 'deadline', task.preparationMs + task.deadlineMs);
    thread.running = { id, task, deadline };
    thread.worker.ref();
    try {
      thread.worker.postMessage({ id, task: task.task, input: task.input });
    } catch (err) {
      // An input that cannot be cloned (a bug of the caller's, not the tenant's).
      this.finish(thread);
      task.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private stopAt(thread: Thread, task: Task, what: 'preparation' | 'deadline', afterMs: number): NodeJS.Timeout {
    return setTimeout(() => {
      task.reject(new SandboxStopped(what, afterMs));
      void this.discard(thread);
    }, afterMs);
  }

  private finish(thread: Thread): void {
    clearTimeout(thread.running?.deadline);
    thread.running = undefined;
    thread.worker.unref();
  }

  /** Stops a thread for good; `reason` fails the task it runs, if any (a task past its deadline has already been answered). */
  private async discard(thread: Thread, reason?: Error): Promise<void> {
    if (!this.threads.delete(thread)) return;
    const { running } = thread;
    this.finish(thread);
    if (running && reason) running.task.reject(reason);
    const terminated = thread.worker.terminate();
    this.pump();
    await terminated;
  }

  private failQueue(message: string): void {
    for (const task of this.queue.splice(0)) this.fail(task, new SandboxUnavailable(message));
  }

  private fail(task: Task, err: Error): void {
    clearTimeout(task.queueTimer);
    task.reject(err);
  }
}
