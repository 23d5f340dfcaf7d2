import uPlot from 'uplot';
import { useEffect, useRef } from 'preact/hooks';
import { html } from './html.ts';

export interface WindowStats { window: string; attempts: number; delivered: number; failed: number; latencyMs: { p50: number | null; p95: number | null } }

/** Bars of attempts, deliveries and failures, and latency p50/p95, per stats window (1 h, 24 h, 7 d). */
export function StatsChart({ stats }: { stats: WindowStats[] }) {
  const counts = useRef<HTMLDivElement>(null);
  const latency = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const x = stats.map((_, i) => i);
    const width = Math.min(520, (counts.current?.parentElement?.clientWidth ?? 520) - 8);
    const axes = (unit: string): uPlot.Axis[] => [{ values: (_u, ticks) => ticks.map((t) => stats[t]?.window ?? '') }, { label: unit }];
    const bars = uPlot.paths.bars!({ size: [0.25, 40] });
    const common = { width, height: 180, scales: { x: { time: false, range: [-0.5, stats.length - 0.5] as uPlot.Range.MinMax } }, legend: { show: true }, cursor: { show: false } };
    const plots = [
      new uPlot({ ...common, title: 'Attempts, deliveries, failures', axes: axes('count'), series: [{}, { label: 'attempts', stroke: '#4a6fa5', fill: '#4a6fa580', paths: bars }, { label: 'delivered', stroke: '#2e7d32', fill: '#2e7d3280', paths: bars }, { label: 'failed', stroke: '#c62828', fill: '#c6282880', paths: bars }] },
        [x, stats.map((s) => s.attempts), stats.map((s) => s.delivered), stats.map((s) => s.failed)], counts.current!),
      new uPlot({ ...common, title: 'Latency', axes: axes('ms'), series: [{}, { label: 'p50 ms', stroke: '#4a6fa5', points: { show: true, size: 8 } }, { label: 'p95 ms', stroke: '#e65100', points: { show: true, size: 8 } }] },
        [x, stats.map((s) => s.latencyMs.p50), stats.map((s) => s.latencyMs.p95)], latency.current!),
    ];
    return () => plots.forEach((plot) => plot.destroy());
  }, [JSON.stringify(stats)]);
  return html`<div class="charts" role="img" aria-label=${stats.map((s) => `${s.window}: ${s.attempts} attempts, ${s.delivered} delivered, ${s.failed} failed, p50 ${s.latencyMs.p50 ?? '–'} ms, p95 ${s.latencyMs.p95 ?? '–'} ms`).join('; ')}>
    <div ref=${counts}></div><div ref=${latency}></div></div>`;
}
