/**
 * No import cycle in src/: every static `import … from` and `export … from`
 * between source files (type-only imports included, since a cycle of types
 * still ties the modules' designs together) forms a graph that must be acyclic.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Cycles tolerated, each as its members sorted and joined by ' <-> '. None today. */
const ALLOWED = new Set<string>();

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative specifiers of the static imports and re-exports of one file. */
function importsOf(text: string): string[] {
  const specs: string[] = [];
  const re = /^\s*(?:import|export)\b[^;'"]*?(?:\bfrom\s*)?['"](\.[^'"]+)['"]/gm;
  for (let m = re.exec(text), n = 0; m !== null && n < 10_000; m = re.exec(text), n++) specs.push(m[1]!);
  return specs;
}

function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    const deps = importsOf(readFileSync(file, 'utf8')).map((s) => relative(SRC, resolve(dirname(file), s.replace(/\.js$/, '.ts'))));
    g.set(from, deps);
  }
  return g;
}

/** Strongly connected components with more than one file (or a self-import): Tarjan's algorithm. */
function cycles(g: Map<string, string[]>): string[] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        on.delete(w);
        comp.push(w);
        if (w === v) break;
      }
      if (comp.length > 1 || (g.get(v) ?? []).includes(v)) found.push(comp.sort().join(' <-> '));
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return found.sort();
}

describe('import graph of src/', () => {
  it('reads imports, including multi-line and type-only ones', () => {
    const g = graph();
    expect(g.size).toBeGreaterThan(50);
    expect(importsOf("import {\n  a,\n  b,\n} from './x.js';\nimport type { C } from '../y.js';\nexport * from './z.js';")).toEqual([
      './x.js',
      '../y.js',
      './z.js',
    ]);
  });

  it('finds a cycle when there is one', () => {
    const g = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(cycles(g)).toEqual(['a.ts <-> b.ts <-> c.ts']);
  });

  it('has no import cycle', () => {
    expect(cycles(graph()).filter((c) => !ALLOWED.has(c))).toEqual([]);
  });
});
