import type { HeraldEvent } from '../../workflows/contract.ts';

/**
 * Smaller bodies are not kept: cheap to serialise, and their events travel inline with each attempt, a new object
 * every time, so never found again (larger events are read once from their workflow and shared: src/temporal).
 */
const KEPT_FROM_BYTES = 64 * 1024;
/** The most the kept bodies hold together; the least recently used go first. */
const MAX_KEPT_BYTES = 32 * 1024 * 1024;

/** A number per event object whose body is kept, held weakly: the key names the object itself, not its id. */
const eventNumbers = new WeakMap<HeraldEvent, number>();
let numbered = 0;
const kept = new Map<string, Buffer>();
let keptBytes = 0;

/**
 * The UTF-8 bytes of `serialise()`, the body of `event` in the variant `key` names (a format and what it reads of the
 * endpoint), kept for the next attempts when large: a 1 MiB event to 2,000 endpoints is serialised once, not 2,000 times.
 * Keyed by the event object, never by its id, so a kept body is only ever what this very object serialised to: another
 * tenant's event, an event erased and posted again under the same id, or one read afresh for a replay is another object
 * and serialised anew. Shared by every attempt that reads it: never written to.
 */
export function bodyOf(event: HeraldEvent, key: string, serialise: () => string): Buffer {
  const number = eventNumbers.get(event);
  const found = number === undefined ? undefined : kept.get(`${number} ${key}`);
  if (found) {
    // The most recently used last: eviction takes the map's first.
    kept.delete(`${number} ${key}`);
    kept.set(`${number} ${key}`, found);
    return found;
  }
  const body = Buffer.from(serialise());
  if (body.byteLength < KEPT_FROM_BYTES || body.byteLength > MAX_KEPT_BYTES) return body;
  if (number === undefined) eventNumbers.set(event, ++numbered);
  kept.set(`${eventNumbers.get(event)} ${key}`, body);
  keptBytes += body.byteLength;
  for (const [oldest, old] of kept) {
    if (keptBytes <= MAX_KEPT_BYTES) break;
    kept.delete(oldest);
    keptBytes -= old.byteLength;
  }
  return body;
}
