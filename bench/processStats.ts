import fs from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far, from /proc; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
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
