import type { Client } from '@temporalio/client';

/** Bytes (payload data, mostly) become their UTF-8 text, so what a payload carries can be searched as text. */
function decodeBytes(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(decodeBytes);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, decodeBytes(inner)]));
  }
  return value;
}

/** A workflow's full history, every payload decoded, as one JSON text. */
export async function historyText(client: Client, workflowId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return JSON.stringify(decodeBytes(history));
}
