/**
 * `fs` as Node 22 has it, for the conformance suite on Node 20: everything
 * node:fs exports, plus a minimal `globSync`.
 *
 * The suite calls `globSync('**\/checks.json', { cwd })` to find result files.
 * This `globSync` supports what such patterns need and no more: `/`-separated
 * segments of literal characters, `*` and `?` within a segment, and `**` as a
 * whole segment (any number of directories). Like Node's, `*`, `?` and `**`
 * skip names starting with a dot, symbolic links are not followed into, and
 * results are relative to `cwd` with the platform's separator. Anything else
 * (braces, classes, negation, extglobs, absolute patterns, `exclude`) throws
 * rather than silently matching something different.
 */
import fs from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export * from 'node:fs';
export default fs;

const UNSUPPORTED = /[[\]{}!()+@\\]/;

/** @typedef {'**' | ((name: string) => boolean)} Segment */

/**
 * @param {string} segment
 * @returns {Segment}
 */
function segmentMatcher(segment) {
  if (segment === '**') return '**';
  if (!/[*?]/.test(segment)) return (name) => name === segment;
  const source = segment.replace(/[.^$|]/g, '\\$&').replaceAll('*', '[^/]*').replaceAll('?', '[^/]');
  const re = new RegExp(`^${source}$`);
  return (name) => !name.startsWith('.') && re.test(name);
}

/**
 * @param {unknown} pattern
 * @returns {Segment[]}
 */
function compile(pattern) {
  if (typeof pattern !== 'string' || pattern === '') throw new TypeError(`globSync: pattern should be a non-empty string, got ${String(pattern)}`);
  if (pattern.startsWith('/') || UNSUPPORTED.test(pattern)) {
    throw new Error(`globSync (Node 20 shim): unsupported pattern ${JSON.stringify(pattern)}; only relative patterns of literals, *, ? and ** are`);
  }
  return pattern.split('/').filter((s) => s !== '' && s !== '.').map(segmentMatcher);
}

/**
 * Whether the path `parts` (names from cwd down) from `j` on matches the compiled segments from `i` on.
 * @param {Segment[]} segs
 * @param {number} i
 * @param {string[]} parts
 * @param {number} j
 * @returns {boolean}
 */
function matches(segs, i, parts, j) {
  if (i === segs.length) return j === parts.length;
  const seg = segs[i];
  if (seg === '**') {
    if (matches(segs, i + 1, parts, j)) return true;
    return j < parts.length && !parts[j].startsWith('.') && matches(segs, i, parts, j + 1);
  }
  return j < parts.length && seg(parts[j]) && matches(segs, i + 1, parts, j + 1);
}

/**
 * Every entry under `root/parts`, as arrays of names relative to `root`; symbolic links are listed, not entered.
 * @param {string} root
 * @param {string[]} parts
 * @returns {Generator<string[]>}
 */
function* walk(root, parts) {
  /** @type {fs.Dirent[]} */
  let entries;
  try {
    entries = fs.readdirSync(join(root, ...parts), { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const next = [...parts, entry.name];
    yield next;
    if (entry.isDirectory()) yield* walk(root, next);
  }
}

/**
 * Paths under `options.cwd` (default: the process's) matching `pattern` (a
 * string or an array of them), relative to it, sorted.
 * @param {string | string[]} pattern
 * @param {{ cwd?: string | URL, exclude?: unknown, withFileTypes?: boolean }} [options]
 * @returns {string[]}
 */
export function globSync(pattern, options = {}) {
  const { cwd = process.cwd(), exclude, withFileTypes } = options;
  if (exclude !== undefined || withFileTypes) throw new Error('globSync (Node 20 shim): exclude and withFileTypes are not supported');
  const root = cwd instanceof URL ? fileURLToPath(cwd) : String(cwd);
  const compiled = (Array.isArray(pattern) ? pattern : [pattern]).map(compile);
  /** @type {string[]} */
  const found = [];
  for (const parts of walk(root, [])) {
    if (compiled.some((segs) => matches(segs, 0, parts, 0))) found.push(parts.join(sep));
  }
  return found.sort();
}
