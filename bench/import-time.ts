/**
 * Cold import time of the library: `runs` fresh Node processes, one after
 * another, each doing `await import('<dist>/index.js')` and taking
 * `McpWsServer` from it. Two numbers per process:
 *  - import: performance.now() around the import inside the process (module
 *    resolution, reading, compiling and evaluating everything index.js pulls in);
 *  - process: spawn to exit as the parent sees it (adds Node's own start-up).
 * Printed as median and p90 of each, and written as Markdown to
 * bench/results/import-time-<label>-<timestamp>.md.
 *
 *   npm run bench:import -- [--runs 30] [--label after] [--entry dist/index.js] [--baseline old/index.js]
 *
 * With `--baseline`, the runs alternate between the baseline build and the
 * entry, so both see the same load on a shared machine, and both are printed.
 *
 * Run `npm run build` first: it measures the built library, as users import it.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { fmt, markdownTable } from './lib/markdown.js';

/** One process's timings in ms. */
interface Sample {
  importMs: number;
  processMs: number;
}

const CHILD_DEADLINE_MS = 30_000;

function runOnce(entryUrl: string): Promise<Sample> {
  const code = [
    'const t0 = performance.now();',
    `const m = await import(${JSON.stringify(entryUrl)});`,
    'const t1 = performance.now();',
    "if (typeof m.McpWsServer !== 'function') throw new Error('McpWsServer missing');",
    'process.stdout.write(String(t1 - t0));',
  ].join('\n');
  return new Promise((resolveSample, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_DEADLINE_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const processMs = performance.now() - started;
      const importMs = Number(out);
      if (code !== 0 || !Number.isFinite(importMs)) {
        reject(new Error(`import failed (exit ${String(code)}): ${err.split('\n')[0] ?? ''}`));
        return;
      }
      resolveSample({ importMs, processMs });
    });
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '30' },
      label: { type: 'string', default: 'run' },
      entry: { type: 'string', default: 'dist/index.js' },
      baseline: { type: 'string' },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) throw new RangeError('--runs should be an integer 1…1000');
  if (!/^[a-z0-9-]+$/i.test(values.label)) throw new RangeError('--label should be letters, digits and dashes');
  const builds = [...(values.baseline === undefined ? [] : [values.baseline]), values.entry];
  const urls = builds.map((b) => pathToFileURL(resolve(b)).href);
  const samples: Sample[][] = builds.map(() => []);

  for (const url of urls) await runOnce(url); // warms the file system cache; not counted
  for (let i = 0; i < runs; i++) {
    for (let b = 0; b < urls.length; b++) samples[b]!.push(await runOnce(urls[b]!));
  }

  const at = new Date().toISOString();
  const rows: string[][] = [];
  for (let b = 0; b < builds.length; b++) {
    const imports = samples[b]!.map((s) => s.importMs).sort((x, y) => x - y);
    const processes = samples[b]!.map((s) => s.processMs).sort((x, y) => x - y);
    const row = (what: string, v: number[]): string[] => [
      builds[b]!,
      what,
      fmt(quantile(v, 0.5), 1),
      fmt(quantile(v, 0.9), 1),
      fmt(v[0], 1),
      fmt(v.at(-1), 1),
    ];
    rows.push(row('import', imports), row('process', processes));
  }
  const text = [
    `#### Cold import of McpWsServer (${values.label}), ${at}`,
    '',
    `${runs} fresh processes per build${builds.length > 1 ? ', alternating' : ''}, Node ${process.version}, \`await import(build)\`.`,
    '',
    markdownTable(['build', '', 'median ms', 'p90 ms', 'min ms', 'max ms'], rows, [false, false, true, true, true, true]),
    '',
  ].join('\n');
  process.stdout.write(text);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/import-time-${values.label}-${at.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}.md`;
  writeFileSync(file, text);
  process.stdout.write(`\nwritten: ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:import: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
