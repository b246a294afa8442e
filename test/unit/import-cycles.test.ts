// No import cycles in src/: every relative import (static, `import type`, re-exports and
// dynamic `import()`) is an edge, and the graph must have no strongly connected component
// of more than one module, nor a module importing itself. A cycle makes the order modules
// initialise in depend on who is loaded first, and blurs which subsystem stands on which.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? modules(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

// `from './<module>.ts'` (import, import type, export … from) and `import('./<module>.ts')`.
const SPECIFIER = /\bfrom\s+'(\.{1,2}\/[^']+)'|\bimport\s*\(\s*'(\.{1,2}\/[^']+)'\s*\)/g;

function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const text = readFileSync(f, 'utf8').replace(/^\s*\/\/.*$/gm, '');
    graph.set(f, [...text.matchAll(SPECIFIER)].map((m) => resolve(dirname(f), m[1] ?? m[2])));
  }
  return graph;
}

/** Tarjan's strongly connected components with more than one member, or a self-import. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

test('the check finds a cycle through a type import and a dynamic import', () => {
  const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']], ['e', ['e']]]);
  assert.deepEqual(cycles(g).map((c) => c.sort()), [['a', 'b', 'c'], ['e']]);
  const text = `import type { X } from './x.ts';\nexport { y } from '../y.ts';\nconst z = await import('./z.ts');\n// import { no } from './comment.ts';\n`;
  assert.deepEqual([...text.replace(/^\s*\/\/.*$/gm, '').matchAll(SPECIFIER)].map((m) => m[1] ?? m[2]), ['./x.ts', '../y.ts', './z.ts']);
});

test('src/ has no import cycles', () => {
  const files = modules(SRC);
  assert.ok(files.length > 40, `found only ${files.length} modules under ${SRC}`);
  const found = cycles(importGraph(files)).map((scc) => scc.map((f) => relative(SRC, f)).sort().join(' <-> '));
  assert.deepEqual(found, [], `import cycles:\n${found.join('\n')}`);
});
