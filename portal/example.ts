/** An example `data` for an event type: the schema's own `examples[0]`, or a skeleton made from its properties. */
export function exampleData(schema: unknown): unknown {
  if (!schema || typeof schema !== 'object') return {};
  const s = schema as { examples?: unknown[]; type?: string | string[]; properties?: Record<string, unknown>; items?: unknown; enum?: unknown[]; const?: unknown; default?: unknown };
  if (Array.isArray(s.examples) && s.examples.length) return s.examples[0];
  if (s.const !== undefined) return s.const;
  if (s.default !== undefined) return s.default;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (type === 'object' || s.properties) return Object.fromEntries(Object.entries(s.properties ?? {}).map(([key, value]) => [key, exampleData(value)]));
  if (type === 'array') return [exampleData(s.items)];
  if (type === 'string') return 'string';
  if (type === 'integer' || type === 'number') return 0;
  if (type === 'boolean') return false;
  return null;
}

export interface CatalogEntry { name: string; description: string; schema: unknown }
