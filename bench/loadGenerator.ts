/**
 * A separate process that loads POST /v1/events, so the benchmark's own work does not steal from
 * the measurement. Open loop at a fixed rate (requests go out on schedule whether or not earlier
 * ones answered, so a slow server shows as latency, not as fewer requests) or closed loop with
 * a number of connections each sending as fast as answers come (saturation).
 * Usage: loadGenerator.ts <json: LoadSpec>; prints a LoadResult as JSON.
 */
import { Pool } from 'undici';
import { percentile, round } from './stats.ts';

export interface LoadSpec { url: string; eventType: string; idPrefix: string; seconds: number; connections: number; rate?: number }
export interface LoadResult { sent: number; statuses: Record<string, number>; requestsPerSecond: number; latencyMs: { p50: number | null; p95: number | null; p99: number | null } }

const spec = JSON.parse(process.argv[2]!) as LoadSpec;
const pool = new Pool(spec.url, { connections: spec.connections, pipelining: 1 });
const latencies: number[] = [];
const statuses: Record<string, number> = {};
let sent = 0;

async function post(): Promise<void> {
  const body = JSON.stringify({ id: `${spec.idPrefix}-${sent++}`, type: spec.eventType, data: { orderId: sent, total: 129.5, email: 'buyer@example.com' } });
  const started = performance.now();
  try {
    const res = await pool.request({ path: '/v1/events', method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await res.body.dump();
    statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'error';
    statuses[code] = (statuses[code] ?? 0) + 1;
  }
  latencies.push(performance.now() - started);
}

const started = performance.now();
const end = started + spec.seconds * 1000;
const inFlight = new Set<Promise<void>>();
if (spec.rate) {
  for (let i = 0; ; i++) {
    const due = started + (i * 1000) / spec.rate;
    if (due >= end) break;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const request = post();
    inFlight.add(request);
    void request.then(() => inFlight.delete(request));
  }
} else {
  await Promise.all(Array.from({ length: spec.connections }, async () => {
    while (performance.now() < end) await post();
  }));
}
await Promise.all(inFlight);
const elapsedSeconds = (performance.now() - started) / 1000;
await pool.close();
const result: LoadResult = {
  sent: latencies.length,
  statuses,
  requestsPerSecond: round(latencies.length / elapsedSeconds)!,
  latencyMs: { p50: round(percentile(latencies, 50)), p95: round(percentile(latencies, 95)), p99: round(percentile(latencies, 99)) },
};
process.stdout.write(JSON.stringify(result));
