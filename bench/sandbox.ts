/**
 * `node --import tsx bench/sandbox.ts`: what running tenant input on a sandbox thread costs per call.
 * The same transform (and the same schema check) evaluated on this thread and through the sandbox
 * pool, alternating in one run, for a small event and a 64 KiB one; prints the medians and ratios.
 * BENCHMARKS.md explains the figures.
 */
import { dataProblems } from '../src/jsonSchema.ts';
import { EVALUATION_DEADLINE_MS, PREPARATION_DEADLINE_MS, sandbox } from '../src/sandbox/index.ts';
import { evaluateTransform, type TransformInput } from '../src/transform/index.ts';
import { applyTransform } from '../src/sandbox/transform.ts';
import { percentile, round } from './stats.ts';

const CALLS = Number(process.env.CALLS ?? 2_000);

/** The SaaS platform's transform (docs/integrations.md): a body and three headers. */
const definition = {
  body: '{ "event_type": event.type, "event_id": event.id, "timestamp": event.occurredAt, "attempt": attempt.number, "data": event.data }',
  headers: { 'User-Agent': '"Sonicus-Webhooks/1.0"', 'X-Sonicus-Event-ID': 'event.id', 'X-Sonicus-Timestamp': 'attempt.sentAt' },
};
const orderSchema = JSON.stringify({
  type: 'object', required: ['order_id', 'items'],
  properties: { order_id: { type: 'string' }, total: { type: 'number', minimum: 0 }, items: { type: 'array', items: { type: 'object', required: ['sku'], properties: { sku: { type: 'string' }, qty: { type: 'integer' } } } } },
});

const orderData = (items: number) => ({ order_id: 'ord_1001', total: 42.5, items: Array.from({ length: items }, (_, i) => ({ sku: `sku-${i}`, qty: i % 5, note: 'x'.repeat(20) })) });
const events = { small: orderData(3), '64 KiB': orderData(1_100) };

const inputFor = (data: unknown): TransformInput => {
  const at = new Date().toISOString();
  return {
    event: { id: 'evt_1', type: 'order.submitted', tenant: 'acme', occurredAt: at, data },
    attempt: { number: 1, sentAt: at, sentAtUnix: Math.floor(Date.now() / 1000), webhookId: 'msg_1' },
    endpoint: { id: 'ep_1', sourceApp: null },
  };
};

const timed = async (call: () => Promise<unknown> | unknown) => {
  const started = performance.now();
  await call();
  return performance.now() - started;
};

sandbox.warm();
const rows: Record<string, string | number | null>[] = [];
for (const [size, data] of Object.entries(events)) {
  const input = inputFor(data);
  const options = { preparationMs: PREPARATION_DEADLINE_MS, deadlineMs: EVALUATION_DEADLINE_MS };
  const cases = {
    transform: {
      inProcess: () => evaluateTransform(definition, input, () => {}),
      sandboxed: () => applyTransform(definition, input),
    },
    'schema check': {
      inProcess: () => dataProblems(orderSchema, data, 'order.submitted', () => {}),
      sandboxed: () => sandbox.run('dataProblems', { schemaText: orderSchema, data, eventType: 'order.submitted' }, options),
    },
  };
  for (const [name, { inProcess, sandboxed }] of Object.entries(cases)) {
    // Warm both paths (JIT, compiled caches, every thread) before measuring.
    for (let i = 0; i < 200; i++) await Promise.all([inProcess(), sandboxed()]);
    const here: number[] = [];
    const there: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      here.push(await timed(inProcess));
      there.push(await timed(sandboxed));
    }
    const [hereMedian, thereMedian] = [percentile(here, 50), percentile(there, 50)];
    rows.push({
      case: `${name}, ${size} event`, calls: CALLS,
      'in process p50 µs': round(hereMedian * 1000, 0), 'sandbox p50 µs': round(thereMedian * 1000, 0),
      'sandbox p99 µs': round(percentile(there, 99) * 1000, 0), 'ratio p50': round(thereMedian / hereMedian, 1),
    });
  }
}
console.table(rows);
await sandbox.close();
