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

/** Where a Go symbol comes from: its package path, shortened to what names the component. */
function goPackage(symbol: string): string {
  if (symbol.startsWith('[k] ')) return 'kernel (syscalls, scheduling, I/O)';
  const name = symbol.replace(/^\[\.\] /, '');
  const pkg = name.match(/^((?:[\w.-]+\/)*[\w.-]+?)\./)?.[1] ?? name;
  const known: [RegExp, string][] = [
    [/^modernc\.org\/(sqlite|libc)/, 'SQLite (modernc, pure Go)'],
    [/^runtime$/, 'Go runtime (GC, scheduler, allocation)'],
    [/^(google\.golang\.org\/(grpc|protobuf)|github\.com\/gogo)/, 'gRPC and protobuf'],
    [/^go\.temporal\.io\/server\/service\/history/, 'Temporal history service'],
    [/^go\.temporal\.io\/server\/service\/matching/, 'Temporal matching service'],
    [/^go\.temporal\.io\/server\/service\/frontend/, 'Temporal frontend service'],
    [/^go\.temporal\.io\/server\/common\/persistence/, 'Temporal persistence layer'],
    [/^go\.temporal\.io\/server/, 'Temporal server, other'],
    [/^(encoding|reflect|strconv|sync|time|sort|strings|bytes|fmt|math)/, 'Go standard library'],
  ];
  return known.find(([pattern]) => pattern.test(pkg))?.[1] ?? pkg;
}

/** Share of the Temporal server's CPU samples (perf report --sort sym) per component. */
export function summarizePerfReport(report: string): string[] {
  const byComponent = new Map<string, number>();
  for (const line of report.split('\n')) {
    const match = line.match(/^\s+([\d.]+)%\s+(\[[.k]\] .+?)\s*$/);
    if (!match) continue;
    const component = goPackage(match[2]!);
    byComponent.set(component, (byComponent.get(component) ?? 0) + Number(match[1]));
  }
  return [...byComponent].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([name, share]) => `${share.toFixed(1).padStart(5)}%  ${name}`);
}
