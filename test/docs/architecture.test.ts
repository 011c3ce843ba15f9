/**
 * docs/ARCHITECTURE.md's module map names every folder and top-level file
 * of src/, and nothing that is gone: the map is the first thing a reader of
 * the code opens, so it must describe today's tree.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const doc = readFileSync(`${root}docs/ARCHITECTURE.md`, 'utf8');

/** The module map: the first fenced block after "## Module map", entries at two-space indent under `src/`. */
function mapEntries(): string[] {
  const start = doc.indexOf('## Module map');
  const block = doc.slice(doc.indexOf('```', start) + 3, doc.indexOf('```', doc.indexOf('```', start) + 3));
  const entries: string[] = [];
  for (const line of block.split('\n')) {
    const m = /^ {2}(\S+)\s/.exec(line);
    if (m) entries.push(m[1]!);
  }
  return entries;
}

describe('docs/ARCHITECTURE.md module map', () => {
  it('describes every folder and top-level file of src/, and no entry that does not exist', () => {
    const tree = readdirSync(`${root}src`, { withFileTypes: true }).map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
    const entries = mapEntries();
    expect(entries.length).toBeGreaterThan(5);
    for (const t of tree) expect(entries, `ARCHITECTURE.md should describe src/${t}`).toContain(t);
    for (const e of entries) expect(tree, `ARCHITECTURE.md describes src/${e}, which does not exist`).toContain(e);
  });

  it('names no file under src/ that does not exist', () => {
    const named = new Set<string>();
    for (const m of doc.matchAll(/src\/[\w/.-]+\.ts\b/g)) named.add(m[0]);
    for (const path of named) {
      expect(() => readFileSync(`${root}${path}`), `ARCHITECTURE.md names ${path}`).not.toThrow();
    }
  });
});
