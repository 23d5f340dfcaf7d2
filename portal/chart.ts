import uPlot from 'uplot';
import { useEffect, useRef } from 'preact/hooks';
import { html } from './html.ts';

interface Counts { attempts: number; delivered: number; failed: number; latencyMs: { p50: number | null; p95: number | null } }
/** GET /v1/endpoints/:id/stats?series=true: the window's totals and its buckets, oldest first. */
export interface WindowStats extends Counts { window: string; successRate: number | null; series: (Counts & { at: string })[] }

/** Attempts, deliveries and failures, and latency p50/p95, over the window, one point per bucket of the stats API's series. */
export function StatsChart({ stats }: { stats: WindowStats }) {
  const counts = useRef<HTMLDivElement>(null);
  const latency = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const { series } = stats;
    // uPlot's time scale is in seconds.
    const x = series.map((bucket) => Date.parse(bucket.at) / 1000);
    const width = Math.min(520, (counts.current?.parentElement?.clientWidth ?? 520) - 8);
    const common = { width, height: 180, legend: { show: true, live: false }, cursor: { show: false } };
    // A point on each bucket that has something: a lone bucket between empty ones shows, though no line reaches it.
    const line = (label: string, stroke: string, values: (number | null)[]): uPlot.Series => ({
      label, stroke, width: 2, points: { show: true, size: 5, filter: () => values.flatMap((value, i) => (value ? [i] : [])) },
    });
    const attempts = series.map((b) => b.attempts), delivered = series.map((b) => b.delivered), failed = series.map((b) => b.failed);
    const p50 = series.map((b) => b.latencyMs.p50), p95 = series.map((b) => b.latencyMs.p95);
    const plots = [
      new uPlot({ ...common, title: 'Attempts, deliveries, failures', axes: [{}, { label: 'count' }],
        series: [{}, line('attempts', '#4a6fa5', attempts), line('delivered', '#2e7d32', delivered), line('failed', '#c62828', failed)] },
      [x, attempts, delivered, failed], counts.current!),
      new uPlot({ ...common, title: 'Latency', axes: [{}, { label: 'ms' }], series: [{}, line('p50 ms', '#4a6fa5', p50), line('p95 ms', '#e65100', p95)] },
        [x, p50, p95], latency.current!),
    ];
    return () => plots.forEach((plot) => plot.destroy());
  }, [JSON.stringify(stats)]);
  const { window, attempts, delivered, failed, latencyMs } = stats;
  return html`<div class="charts" role="img" data-testid="stats-chart"
    aria-label=${`Over ${window}: ${attempts} attempts, ${delivered} delivered, ${failed} failed, latency p50 ${latencyMs.p50 ?? '–'} ms, p95 ${latencyMs.p95 ?? '–'} ms, in ${stats.series.length} steps`}>
    <div ref=${counts}></div><div ref=${latency}></div></div>`;
}
