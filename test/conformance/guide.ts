/**
 * Reads docs/integrations.md, so each conformance suite configures Herald exactly as the guide
 * tells a migrating team: a block marked `<!-- conformance: <name> -->` is the next fenced block.
 */
import fs from 'node:fs';

const guide = fs.readFileSync(new URL('../../docs/integrations.md', import.meta.url), 'utf8');

export function guideBlock(name: string): string {
  const marker = guide.search(new RegExp(`<!-- conformance: ${name}[ -]`));
  if (marker < 0) throw new Error(`docs/integrations.md has no block marked "conformance: ${name}"`);
  const fence = /```[a-z]*\n([\s\S]*?)```/.exec(guide.slice(marker));
  if (!fence) throw new Error(`no code block after "conformance: ${name}"`);
  return fence[1]!;
}

/** The JSON a `curl … -d '<json>'` block posts. */
export function curlBody(name: string): Record<string, any> {
  const block = guideBlock(name);
  const start = block.indexOf("-d '");
  const end = block.lastIndexOf("'");
  if (start < 0 || end <= start) throw new Error(`"conformance: ${name}" is not a curl -d '…' block`);
  return JSON.parse(block.slice(start + 4, end));
}

/** `NAME=value   # comment` lines of a shell block, single quotes removed. */
export function envBlock(name: string): Record<string, string> {
  return Object.fromEntries(guideBlock(name).split('\n').filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line)).map((line) => {
    const [, key, raw] = /^([A-Z_][A-Z0-9_]*)=(.*?)(?:\s+#.*)?$/.exec(line)!;
    return [key!, raw!.replace(/^'(.*)'$/, '$1')];
  }));
}

/** The fields a receiver found wrong in one request, collected so a suite can assert there are none. */
export class Findings {
  readonly problems: string[] = [];
  check(condition: unknown, problem: string): void {
    if (!condition) this.problems.push(problem);
  }
}
