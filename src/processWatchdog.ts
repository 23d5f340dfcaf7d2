import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

/**
 * `spawn`, with the child stopped when this process dies, however it dies: what Herald or a test starts
 * (Temporal servers, PostgreSQL, Herald processes) must never outlive it holding ports and data.
 */
export function spawnTiedToThisProcess(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options);
  const watchdog = child.pid ? stopWhenThisProcessDies(child.pid) : undefined;
  // Its child is gone: the watchdog must not act on a pid that may be reused.
  child.once('exit', () => watchdog?.kill('SIGKILL'));
  return child;
}

/**
 * Stops the process at `pid` when this process dies, however it dies (kill -9 and the OOM killer
 * included), so nothing it started is left holding ports and data: a shell, in a process group of its
 * own so that a supervisor killing this process's group spares it, reads a pipe from this process until
 * the kernel closes it, then sends SIGTERM, and SIGKILL 10 s later.
 */
function stopWhenThisProcessDies(pid: number): ChildProcess {
  const script = `
    while read -r _; do :; done
    kill -TERM "$1" 2>/dev/null || exit 0
    i=0
    while kill -0 "$1" 2>/dev/null; do
      i=$((i + 1)); if [ "$i" -gt 100 ]; then kill -KILL "$1" 2>/dev/null; exit 0; fi
      sleep 0.1
    done`;
  const watchdog = spawn('/bin/sh', ['-c', script, 'herald-watchdog', String(pid)], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  watchdog.on('error', () => undefined); // no shell: callers keep their own fallbacks (pid files, port checks)
  watchdog.stdin!.on('error', () => undefined);
  // Neither keeps this process running: at its exit the pipe closes, and the watchdog stops `pid`.
  watchdog.unref();
  (watchdog.stdin as unknown as { unref(): void }).unref();
  return watchdog;
}
