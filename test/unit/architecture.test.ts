import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

/**
 * The layers of docs/architecture.md held against the code's own imports (type imports count):
 * no import from a room into a room on a higher layer, and no circle between rooms; and no file
 * grown past a page or so.
 * A room is a folder of src/ (src/api), a file directly in src/ (src/config.ts), or a top folder (workflows).
 */

const root = path.resolve(import.meta.dirname, '../..');
const productFolders = ['src', 'workflows', 'activities', 'ops'];

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const at = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(at);
    return entry.name.endsWith('.ts') ? [at] : [];
  });
}

function roomOf(file: string): string | undefined {
  const [top, second] = path.relative(root, file).split(path.sep);
  if (!top || !productFolders.includes(top)) return undefined;
  if (top !== 'src') return top;
  return `src/${second}`;
}

/** Room → the rooms it imports from (relative imports only: packages are not rooms). */
function roomImports(): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  for (const file of productFolders.flatMap((folder) => filesUnder(path.join(root, folder)))) {
    const from = roomOf(file)!;
    const edges = graph.get(from) ?? new Map<string, string[]>();
    graph.set(from, edges);
    for (const { fileName } of ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const to = roomOf(path.resolve(path.dirname(file), fileName));
      if (!to || to === from) continue;
      edges.set(to, [...(edges.get(to) ?? []), `${path.relative(root, file)} → ${fileName}`]);
    }
  }
  return graph;
}

/** The numbered list under "## Layers", top layer first: each line names its rooms in backticks. */
function statedLayers(): Map<string, number> {
  const doc = fs.readFileSync(path.join(root, 'docs/architecture.md'), 'utf8');
  const section = doc.split(/^## /m).find((part) => part.startsWith('Layers'));
  assert.ok(section, 'docs/architecture.md has a "## Layers" section');
  const layerOf = new Map<string, number>();
  const lines = section.split('\n').filter((line) => /^\d+\.\s/.test(line));
  lines.forEach((line, index) => {
    for (const [, room] of line.matchAll(/`([^`]+)`/g)) layerOf.set(room!.replace(/\/$/, ''), lines.length - index);
  });
  return layerOf;
}

export const graph = roomImports();

test('every room of the product has its layer in docs/architecture.md', () => {
  const layers = statedLayers();
  assert.deepEqual([...graph.keys()].filter((room) => !layers.has(room)).sort(), []);
});

test('no room imports from a room on a higher layer', () => {
  const layers = statedLayers();
  const upward = [...graph].flatMap(([from, edges]) =>
    [...edges].filter(([to]) => (layers.get(to) ?? 0) > (layers.get(from) ?? 0)).flatMap(([, why]) => why));
  assert.deepEqual(upward, []);
});

test('tooling (bench/, ops/) never imports from test/: tests lean on the product and tooling, not the other way', () => {
  const intoTests = ['bench', 'ops'].flatMap((folder) => filesUnder(path.join(root, folder))).flatMap((file) =>
    ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true).importedFiles
      .filter(({ fileName }) => fileName.startsWith('.') && path.relative(root, path.resolve(path.dirname(file), fileName)).split(path.sep)[0] === 'test')
      .map(({ fileName }) => `${path.relative(root, file)} → ${fileName}`));
  assert.deepEqual(intoTests, []);
});

test('no product file is over 400 lines: a longer one holds more than one thing', () => {
  const long = productFolders.flatMap((folder) => filesUnder(path.join(root, folder)))
    .filter((file) => fs.readFileSync(file, 'utf8').split('\n').length > 401)
    .map((file) => path.relative(root, file));
  assert.deepEqual(long, []);
});

test('no circle between rooms', () => {
  // Tarjan's strongly connected components: any with more than one room is a circle.
  let index = 0;
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const circles: string[][] = [];
  const visit = (room: string) => {
    order.set(room, index);
    low.set(room, index++);
    stack.push(room);
    for (const next of graph.get(room)?.keys() ?? []) {
      if (!order.has(next)) {
        visit(next);
        low.set(room, Math.min(low.get(room)!, low.get(next)!));
      } else if (stack.includes(next)) low.set(room, Math.min(low.get(room)!, order.get(next)!));
    }
    if (low.get(room) === order.get(room)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        component.push(member);
      } while (member !== room);
      if (component.length > 1) circles.push(component.sort());
    }
  };
  for (const room of graph.keys()) if (!order.has(room)) visit(room);
  assert.deepEqual(circles, []);
});
