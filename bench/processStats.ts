import fs from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far, from /proc; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** CPU seconds of a process's main thread alone (a Node process's JavaScript, without its worker threads, V8's helpers and native threads). */
export function mainThreadCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuSeconds(file: string): number {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = fs.readFileSync(file, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** A memory figure of /proc/<pid>/status in MiB: VmHWM (peak resident) or VmRSS (resident now). */
function statusMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
    return Number(line?.split(/\s+/)[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

export const peakRssMiB = (pid: number) => statusMiB(pid, 'VmHWM');
export const rssMiB = (pid: number) => statusMiB(pid, 'VmRSS');

/** Of a process's resident memory now, in MiB: anonymous (heaps, WebAssembly memory, caches) and file-backed (code, mapped files). */
export function residentKindsMiB(pid: number): { anonymous: number; fileBacked: number } | undefined {
  try {
    const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kib = (field: string) => Number(rollup.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
    return { anonymous: kib('Anonymous') / 1024, fileBacked: (kib('Rss') - kib('Anonymous')) / 1024 };
  } catch {
    return undefined;
  }
}
