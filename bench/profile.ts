import fs from 'node:fs';
import path from 'node:path';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function's code comes from: an npm package, Node itself, Herald's own files, or V8's pseudo-frames. */
function origin(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (pkg) return pkg[1]!;
  const own = url.match(/\/(src|workflows|activities)\//);
  return own ? `herald ${own[1]}/` : url.includes('webpack') || url.includes('workflow-bundle') ? 'workflow bundle (sandbox)' : url;
}

/**
 * Self time per origin and the hottest functions, for each thread's profile Node wrote with
 * --cpu-prof (the main thread runs the API, activities and the SDK; workflow threads run the sandbox).
 */
export function summarizeCpuProfiles(dir: string): Record<string, unknown> {
  if (!fs.existsSync(dir)) return { error: `no profiles in ${dir}` };
  const summary: Record<string, unknown> = {};
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
    const byOrigin = new Map<string, number>();
    const byFunction = new Map<string, number>();
    let total = 0;
    profile.samples.forEach((id, i) => {
      const frame = nodes.get(id)!;
      const us = profile.timeDeltas[i] ?? 0;
      total += us;
      const from = origin(frame.url, frame.functionName);
      byOrigin.set(from, (byOrigin.get(from) ?? 0) + us);
      const fn = `${frame.functionName || '(anonymous)'} ${from === frame.url ? path.basename(frame.url) : from}:${frame.lineNumber + 1}`;
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    });
    const top = (map: Map<string, number>, n: number) =>
      [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => `${((us / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
    summary[file] = { seconds: Number((total / 1e6).toFixed(1)), byOrigin: top(byOrigin, 12), hottestFunctions: top(byFunction, 15) };
  }
  return summary;
}
