import fs from 'node:fs';
import path from 'node:path';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a function's code comes from: an npm package, Node itself, Herald's own files, or V8's pseudo-frames. */
function origin(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('wasm://')) return 'WebAssembly (PGlite)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (pkg) return pkg[1]!;
  const own = url.match(/\/(src|workflows|activities)\//);
  return own ? `herald ${own[1]}/` : url.includes('webpack') || url.includes('workflow-bundle') ? 'workflow bundle (sandbox)' : url;
}
/** Origins that say nothing of who asked for the work: their time goes to the nearest caller that does. */
const anonymous = new Set(['(native)', 'node internals', '(program)']);

/** The window of a phase, in the monotonic microseconds V8 stamps profiles with (process.hrtime in any process). */
export interface ProfileWindow {
  startUs: number;
  endUs: number;
  /** What the time is divided by (the phase's deliveries). */
  per: number;
}

/**
 * For each thread's profile Node wrote with --cpu-prof (the main thread runs the API, activities
 * and the SDK; a worker thread runs the workflow sandbox), over `window` only: busy milliseconds per
 * delivery, self time by origin (time in Node internals and native code counted to the nearest
 * caller with a known origin), the hottest functions by self time, and the inclusive time of Herald's own functions.
 */
export function summarizeCpuProfiles(dir: string, window: ProfileWindow): Record<string, unknown> {
  if (!fs.existsSync(dir)) return { error: `no profiles in ${dir}` };
  const summary: Record<string, unknown> = {};
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
    const byOrigin = new Map<string, number>();
    const inclusive = new Map<string, number>();
    const byFunction = new Map<string, number>();
    const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
    let at = profile.startTime;
    let busy = 0;
    profile.samples.forEach((id, i) => {
      at += profile.timeDeltas[i] ?? 0;
      const us = profile.timeDeltas[i + 1] ?? 0; // a sample stands for the time until the next one
      if (at < window.startUs || at >= window.endUs) return;
      const leaf = nodes.get(id)!;
      if (leaf.functionName === '(idle)') return;
      busy += us;
      let blamed: string | undefined;
      const seen = new Set<string>();
      for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
        const frame = nodes.get(node)!;
        const from = origin(frame.url, frame.functionName);
        if (blamed === undefined && !anonymous.has(from)) blamed = from;
        if (from.startsWith('herald ')) {
          const name = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(src|workflows|activities)\//, '$1/')}:${frame.lineNumber + 1}`;
          if (!seen.has(name)) add(inclusive, name, us);
          seen.add(name);
        }
      }
      add(byOrigin, blamed ?? origin(leaf.url, leaf.functionName), us);
      add(byFunction, `${leaf.functionName || '(anonymous)'} ${origin(leaf.url, leaf.functionName)}:${leaf.lineNumber + 1}`, us);
    });
    const perDelivery = (us: number) => (us / 1000 / window.per).toFixed(2).padStart(6);
    const top = (map: Map<string, number>, n: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => `${perDelivery(us)} ms  ${name}`);
    summary[file] = { busyMsPerDelivery: Number(perDelivery(busy)), selfByOrigin: top(byOrigin, 15), hottestFunctions: top(byFunction, 15), heraldInclusive: top(inclusive, 25) };
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
