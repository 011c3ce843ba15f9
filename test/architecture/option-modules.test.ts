/**
 * Defaults live in option modules that the runtime imports, never the
 * reverse: every module that declares options, and every config-file
 * schema, imports by value (transitively) only other such modules and the
 * shared vocabulary (names, codes, the declaration kit). Reading a config
 * file or a default loads no server, session, codec engine, store or
 * transport.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** The config-file schemas, beside the modules that call defineOptions. */
const SCHEMAS = ['config/schema.ts', 'gateway/config.ts', 'compression/config.ts', 'ratelimit/config.ts'];

/** Modules of names, codes and helpers that option modules may use. */
const VOCABULARY = new Set([
  'config/option-set.ts',
  'config/describe-value.ts',
  'ratelimit/types.ts',
  'compression/codec.ts',
  'protocol/close-codes.ts',
  'gateway/load-balance-strategy.ts',
  'gateway/upstream-spec.ts',
]);

/** Value imports of runtime code an option module may make, each with its reason. */
const ALLOWED_EDGES: Record<string, string> = {
  'transport/open-options.ts -> compression/codecs.ts': 'a client refuses a codec this process cannot run when its options are checked',
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [relative(SRC, p)] : [];
  });
}

/** Relative specifiers of the value imports and re-exports of one file (`import type` / `export type` left out). */
export function valueImports(text: string): string[] {
  const specs: string[] = [];
  const re = /^\s*(import|export)\s+(type\s)?[^;'"]*?(?:\bfrom\s*)?['"](\.[^'"]+)['"]/gm;
  for (let m = re.exec(text), n = 0; m !== null && n < 10_000; m = re.exec(text), n++) if (m[2] === undefined) specs.push(m[3]!);
  return specs;
}

function importsOf(file: string): string[] {
  return valueImports(readFileSync(join(SRC, file), 'utf8')).map((s) => relative(SRC, resolve(dirname(join(SRC, file)), s.replace(/\.js$/, '.ts'))));
}

describe('option modules', () => {
  it('reads value imports, not type-only ones', () => {
    const text = "import type { A } from './a.js';\nimport { b, type C } from './b.js';\nexport type { D } from './d.js';\nexport { e } from './e.js';\nimport {\n  f,\n} from './f.js';\n";
    expect(valueImports(text)).toEqual(['./b.js', './e.js', './f.js']);
  });

  it('import only option modules, config schemas and the shared vocabulary', () => {
    const optionModules = sourceFiles(SRC).filter((f) => readFileSync(join(SRC, f), 'utf8').includes('defineOptions({'));
    expect(optionModules.length).toBeGreaterThanOrEqual(8);
    const allowed = new Set([...optionModules, ...SCHEMAS, ...VOCABULARY]);
    const wrong: string[] = [];
    const seen = new Set<string>();
    const queue = [...optionModules, ...SCHEMAS];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const dep of importsOf(file)) {
        if (`${file} -> ${dep}` in ALLOWED_EDGES) continue;
        if (!allowed.has(dep)) wrong.push(`${file} -> ${dep}`);
        else queue.push(dep);
      }
    }
    expect(wrong).toEqual([]);
  });
});
