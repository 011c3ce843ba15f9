/**
 * The Node 20 hook that lets the official conformance suite import: its
 * `globSync` against a real temporary tree (what it finds, what it refuses,
 * that it does not follow links), the resolve hook's scope (only the suite's
 * modules get the shimmed `fs`), and the suite itself starting under it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as shim from '../../scripts/conformance/fs-glob.mjs';
import { fromSuite, resolve } from '../../scripts/conformance/node20-loader.mjs';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOOK = join(ROOT, 'scripts/conformance/node20-hook.mjs');
const SUITE = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

let tree: string;

beforeAll(() => {
  tree = mkdtempSync(join(tmpdir(), 'glob-'));
  const file = (rel: string): void => {
    mkdirSync(join(tree, rel, '..'), { recursive: true });
    writeFileSync(join(tree, rel), '[]');
  };
  file('checks.json');
  file('server-a/checks.json');
  file('server-a/stdout.txt');
  file('server-b/deep/er/checks.json');
  file('server-b/checks.jsonl');
  file('.hidden/checks.json');
  file('server-c/.checks.json');
  // A directory link back to the root: a glob that followed links would loop.
  symlinkSync(tree, join(tree, 'loop'), 'dir');
});

afterAll(() => rmSync(tree, { recursive: true, force: true }));

const p = (...parts: string[]): string => parts.join(sep);

describe('globSync (Node 20 shim)', () => {
  it('finds **/checks.json at every depth, relative to cwd, sorted, skipping dot entries and links', () => {
    expect(shim.globSync('**/checks.json', { cwd: tree })).toEqual([
      'checks.json',
      p('server-a', 'checks.json'),
      p('server-b', 'deep', 'er', 'checks.json'),
    ]);
  });

  it('takes cwd as a file URL, * and ? within a segment, and several patterns at once', () => {
    expect(shim.globSync('server-?/*.txt', { cwd: pathToFileURL(tree) })).toEqual([p('server-a', 'stdout.txt')]);
    expect(shim.globSync(['*/checks.json*', 'checks.json'], { cwd: tree })).toEqual([
      'checks.json',
      p('server-a', 'checks.json'),
      p('server-b', 'checks.jsonl'),
    ]);
  });

  it('matches a dot name only when the pattern spells it', () => {
    expect(shim.globSync('.hidden/checks.json', { cwd: tree })).toEqual([p('.hidden', 'checks.json')]);
  });

  it('treats regular-expression characters in a pattern literally', () => {
    expect(shim.globSync('checks$json', { cwd: tree })).toEqual([]);
    expect(shim.globSync('checks.js?n', { cwd: tree })).toEqual(['checks.json']);
  });

  it('answers an empty list for a missing cwd', () => {
    expect(shim.globSync('**/checks.json', { cwd: join(tree, 'absent') })).toEqual([]);
  });

  it('refuses what it does not implement instead of matching something else', () => {
    for (const pattern of ['{a,b}/checks.json', '[ab]/x', '!x', '+(a)', '/abs/**', 'a\\b']) {
      expect(() => shim.globSync(pattern, { cwd: tree }), pattern).toThrow(/unsupported pattern/);
    }
    expect(() => shim.globSync('', { cwd: tree })).toThrow(TypeError);
    expect(() => shim.globSync('x', { cwd: tree, exclude: () => false })).toThrow(/not supported/);
  });

  it('exports the rest of node:fs unchanged', async () => {
    const fs = await import('node:fs');
    expect(shim.readFileSync).toBe(fs.readFileSync);
    expect(shim.default).toBe(fs.default);
  });
});

describe('resolve hook', () => {
  const next = (specifier: string): Promise<{ url: string }> => Promise.resolve({ url: `next:${specifier}` });
  const suiteFile = pathToFileURL(SUITE).href;

  it('gives the suite\'s modules the shim for fs and node:fs, and nobody else', async () => {
    expect(fromSuite(suiteFile)).toBe(true);
    expect(fromSuite('file:///C:/x/node_modules/@modelcontextprotocol/conformance/dist/index.js')).toBe(true);
    expect(fromSuite(pathToFileURL(join(ROOT, 'src/index.ts')).href)).toBe(false);
    expect(fromSuite(undefined)).toBe(false);
    for (const specifier of ['fs', 'node:fs']) {
      const got = await resolve(specifier, { parentURL: suiteFile }, next);
      expect(got.url).toBe(new URL('../../scripts/conformance/fs-glob.mjs', import.meta.url).href);
    }
    expect((await resolve('fs', { parentURL: pathToFileURL(join(ROOT, 'x.mjs')).href }, next)).url).toBe('next:fs');
    expect((await resolve('fs/promises', { parentURL: suiteFile }, next)).url).toBe('next:fs/promises');
  });

  it('lets the suite start on this Node', async () => {
    const { stdout } = await run(process.execPath, ['--import', HOOK, SUITE, '--version'], { timeout: 15_000 });
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
