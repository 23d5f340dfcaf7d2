/**
 * A small PromQL evaluator over scraped samples, enough for the queries and alerts Herald documents:
 * selectors (`=`, `!=`, `=~`, `!~`), `rate(...[d])` and `increase(...[d])` between two scrapes,
 * `sum` / `sum by (...)`, `histogram_quantile`, `/`, `*`, `-`, `+`, comparisons (filtering, as
 * without `bool`) and `and`, with one-to-one matching on all labels as Prometheus does.
 */
import type { Sample } from './prometheus.ts';

export interface Series {
  labels: Record<string, string>;
  value: number;
}
type Value = { kind: 'scalar'; value: number } | { kind: 'vector'; series: Series[] };

export interface Scrapes {
  /** The latest scrape. */
  now: Sample[];
  /** An earlier scrape, `seconds` before `now`, for rate() and increase(); counters start at 0 when absent. */
  before?: Sample[];
  seconds?: number;
}

const tokenPattern = /\s*(?:(\d+(?:\.\d+)?(?:e[+-]?\d+)?)|([a-zA-Z_:][\w:]*)|("(?:[^"\\]|\\.)*")|(=~|!~|!=|==|>=|<=|[{}()[\],=<>/*+-]))/y;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  tokenPattern.lastIndex = 0;
  while (tokenPattern.lastIndex < text.trimEnd().length) {
    const match = tokenPattern.exec(text);
    if (!match) throw new Error(`cannot read PromQL at ${tokenPattern.lastIndex}: ${text.slice(tokenPattern.lastIndex)}`);
    tokens.push(match[0].trim());
  }
  return tokens;
}

const key = (labels: Record<string, string>) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
const withoutName = ({ __name__: _name, ...rest }: Record<string, string>) => rest;

export function evaluate(query: string, scrapes: Scrapes): Series[] | number {
  const tokens = tokenize(query);
  let at = 0;
  const peek = () => tokens[at];
  const next = () => tokens[at++]!;
  const expect = (token: string) => {
    if (next() !== token) throw new Error(`expected ${token} at token ${at - 1} of ${query}`);
  };

  const select = (samples: Sample[], name: string, matchers: [string, string, string][]): Series[] =>
    samples
      .filter((s) => s.name === name)
      .filter((s) => matchers.every(([label, op, value]) => {
        const actual = s.labels[label] ?? '';
        if (op === '=') return actual === value;
        if (op === '!=') return actual !== value;
        const matches = new RegExp(`^(?:${value})$`).test(actual);
        return op === '=~' ? matches : !matches;
      }))
      .map((s) => ({ labels: { __name__: name, ...s.labels }, value: s.value }));

  const selector = (name: string): { now: Series[]; range?: Series[] } => {
    const matchers: [string, string, string][] = [];
    if (peek() === '{') {
      next();
      while (peek() !== '}') {
        const label = next();
        const op = next();
        matchers.push([label, op, JSON.parse(next())]);
        if (peek() === ',') next();
      }
      next();
    }
    const now = select(scrapes.now, name, matchers);
    if (peek() !== '[') return { now };
    next();
    while (next() !== ']');
    if (!scrapes.before || !scrapes.seconds) throw new Error('a range needs an earlier scrape');
    const before = new Map(select(scrapes.before, name, matchers).map((s) => [key(s.labels), s.value]));
    return { now, range: now.map((s) => ({ labels: s.labels, value: s.value - (before.get(key(s.labels)) ?? 0) })) };
  };

  const vector = (value: Value): Series[] => {
    if (value.kind !== 'vector') throw new Error('expected a vector');
    return value.series;
  };

  const aggregateSum = (series: Series[], by: string[] | undefined): Series[] => {
    const groups = new Map<string, Series>();
    for (const s of series) {
      const labels = Object.fromEntries((by ?? []).filter((l) => l in s.labels).map((l) => [l, s.labels[l]!]));
      const group = groups.get(key(labels)) ?? { labels, value: 0 };
      group.value += s.value;
      groups.set(key(labels), group);
    }
    return [...groups.values()];
  };

  const labelList = () => {
    expect('(');
    const labels: string[] = [];
    while (peek() !== ')') {
      labels.push(next());
      if (peek() === ',') next();
    }
    next();
    return labels;
  };

  const primary = (): Value => {
    const token = next();
    if (token === '(') {
      const value = expression();
      expect(')');
      return value;
    }
    if (/^\d/.test(token)) return { kind: 'scalar', value: Number(token) };
    if (token === 'sum') {
      let by = peek() === 'by' ? (next(), labelList()) : undefined;
      expect('(');
      const inner = vector(expression());
      expect(')');
      if (peek() === 'by') {
        next();
        by = labelList();
      }
      return { kind: 'vector', series: aggregateSum(inner, by) };
    }
    if (token === 'rate' || token === 'increase') {
      expect('(');
      const { range } = selector(next());
      expect(')');
      if (!range) throw new Error(`${token} needs a range`);
      const divisor = token === 'rate' ? scrapes.seconds! : 1;
      return { kind: 'vector', series: range.map((s) => ({ labels: withoutName(s.labels), value: s.value / divisor })) };
    }
    if (token === 'histogram_quantile') {
      expect('(');
      const phi = Number(next());
      expect(',');
      const buckets = vector(expression());
      expect(')');
      return { kind: 'vector', series: histogramQuantile(phi, buckets) };
    }
    return { kind: 'vector', series: selector(token).now };
  };

  const binary = (left: Value, op: string, right: Value): Value => {
    const apply = (a: number, b: number): number | undefined => {
      switch (op) {
        case '/': return a / b;
        case '*': return a * b;
        case '+': return a + b;
        case '-': return a - b;
        case '>': return a > b ? a : undefined;
        case '<': return a < b ? a : undefined;
        case '>=': return a >= b ? a : undefined;
        case '<=': return a <= b ? a : undefined;
        case '==': return a === b ? a : undefined;
        default: throw new Error(`operator ${op}`);
      }
    };
    const comparison = ['>', '<', '>=', '<=', '=='].includes(op);
    if (left.kind === 'scalar' && right.kind === 'scalar') return { kind: 'scalar', value: apply(left.value, right.value) ?? NaN };
    if (right.kind === 'scalar') {
      return { kind: 'vector', series: vector(left).flatMap((s) => {
        const value = apply(s.value, right.value);
        return value === undefined ? [] : [{ labels: comparison ? s.labels : withoutName(s.labels), value }];
      }) };
    }
    if (left.kind === 'scalar') {
      return { kind: 'vector', series: vector(right).flatMap((s) => {
        const value = apply(left.value, s.value);
        return value === undefined ? [] : [{ labels: withoutName(s.labels), value: comparison ? s.value : value }];
      }) };
    }
    const rightByLabels = new Map(right.series.map((s) => [key(withoutName(s.labels)), s]));
    return { kind: 'vector', series: left.series.flatMap((s) => {
      const match = rightByLabels.get(key(withoutName(s.labels)));
      if (!match) return [];
      if (op === 'and') return [s];
      const value = apply(s.value, match.value);
      return value === undefined ? [] : [{ labels: comparison ? s.labels : withoutName(s.labels), value }];
    }) };
  };

  const levels = [['and'], ['>', '<', '>=', '<=', '=='], ['+', '-'], ['*', '/']];
  const level = (index: number): Value => {
    if (index === levels.length) return primary();
    let left = level(index + 1);
    while (peek() !== undefined && levels[index]!.includes(peek()!)) {
      const op = next();
      left = binary(left, op, level(index + 1));
    }
    return left;
  };
  const expression = () => level(0);

  const result = expression();
  if (at !== tokens.length) throw new Error(`unexpected ${tokens[at]} in ${query}`);
  return result.kind === 'scalar' ? result.value : result.series;
}

/** Prometheus's histogram_quantile: linear interpolation inside the bucket the rank falls in. */
function histogramQuantile(phi: number, buckets: Series[]): Series[] {
  const groups = new Map<string, { labels: Record<string, string>; buckets: { le: number; count: number }[] }>();
  for (const s of buckets) {
    const { le, ...labels } = withoutName(s.labels);
    const group = groups.get(key(labels)) ?? { labels, buckets: [] };
    group.buckets.push({ le: le === '+Inf' ? Infinity : Number(le), count: s.value });
    groups.set(key(labels), group);
  }
  return [...groups.values()].map(({ labels, buckets: sorted }) => {
    sorted.sort((a, b) => a.le - b.le);
    const total = sorted.at(-1)!.count;
    if (total === 0) return { labels, value: NaN };
    const rank = phi * total;
    const index = sorted.findIndex((b) => b.count >= rank);
    const bucket = sorted[index]!;
    if (bucket.le === Infinity) return { labels, value: sorted[index - 1]?.le ?? NaN };
    const lower = index === 0 ? 0 : sorted[index - 1]!.le;
    const below = index === 0 ? 0 : sorted[index - 1]!.count;
    return { labels, value: lower + (bucket.le - lower) * ((rank - below) / (bucket.count - below)) };
  });
}
