/**
 * Micro-benchmarks, one group per area, with tinybench:
 *
 *   npm run bench:micro -- metrics          ServerMetrics vs prom-client
 *   npm run bench:micro -- rate_limiting    each strategy over 10,000 keys, and the Redis store
 *   npm run bench:micro -- load_balancing   selection among 16 members
 *   npm run bench:micro -- compression      codecs on realistic MCP payloads
 *   npm run bench:micro -- metrics --time 3000
 *
 * A group is a module under bench/micro/ exporting a {@link MicroGroup};
 * add it to GROUPS below (rate_limiting, compression, load_balancing, …).
 * Each row prints ops/s and ns/op beside the seed's figure and the target.
 * Everything printed is also written to bench/results/micro-<groups>-<date>.md
 * and .json, so a figure quoted in the docs names the run it comes from.
 */
import { Bench } from 'tinybench';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MicroGroup } from './micro/group.js';
import { fmt, markdownTable } from './lib/markdown.js';
import { stamp } from './lib/suite.js';

/** The registry: group name → loader (loaded on demand, so one group's imports don't tax another). */
const GROUPS: Record<string, () => Promise<MicroGroup>> = {
  metrics: async () => (await import('./micro/metrics.js')).default,
};

/** Groups that are whole programs of their own (they print their own tables): run as child processes. */
const SCRIPTS: Record<string, string> = {
  rate_limiting: 'micro-rate-limiting.js',
  load_balancing: 'micro-load-balancing.js',
  compression: 'micro-compression.js',
};

function usage(message: string): never {
  process.stderr.write(`bench/micro: ${message}\n`);
  process.exit(1);
}

function mops(n: number): string {
  return `${(n / 1e6).toFixed(1)} M`;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ options: { time: { type: 'string', default: '1000' } }, allowPositionals: true, strict: true });
  } catch (err) {
    usage((err as Error).message);
  }
  const names = parsed.positionals;
  const groups = [...Object.keys(GROUPS), ...Object.keys(SCRIPTS)];
  if (names.length === 0) usage(`name a group: ${groups.join(', ')}`);
  for (const n of names) if (!groups.includes(n)) usage(`unknown group "${n}"; groups: ${groups.join(', ')}`);
  const time = Number(parsed.values.time);
  if (!Number.isFinite(time) || time <= 0) usage(`--time should be a positive number of ms, got "${parsed.values.time}"`);
  const started = new Date();
  const command = `npm run bench:micro -- ${process.argv.slice(2).join(' ')}`.trim();
  /** What each group printed, in the order run: the body of the results file. */
  const printed: Array<{ group: string; markdown: string }> = [];
  for (const n of names.filter((x) => x in SCRIPTS)) {
    const script = fileURLToPath(new URL(`./${SCRIPTS[n]}`, import.meta.url));
    // stdout is the group's report (echoed as it is and kept); progress on stderr passes through.
    const r = spawnSync(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    process.stdout.write(r.stdout);
    if (r.status !== 0) process.exit(r.status ?? 1);
    printed.push({ group: n, markdown: r.stdout.trim() });
  }
  const inProcess = names.filter((x) => x in GROUPS);

  let sink = 0;
  for (const name of inProcess) {
    const group = await GROUPS[name]!();
    const bench = new Bench({ name, time, warmupTime: Math.min(500, time / 2) });
    for (const c of group.cases) {
      const run = c.run;
      bench.add(c.name, () => {
        sink += run();
      });
    }
    await bench.run();
    await group.check?.();
    const rows: Array<Array<string | number>> = [];
    for (const c of group.cases) {
      const task = bench.getTask(c.name);
      const r = task?.result;
      if (!r || r.state !== 'completed') throw new Error(`case ${c.name} did not complete (${r?.state ?? 'missing'})`);
      const nsPerOp = (r.period * 1e6) / c.opsPerCall;
      const opsPerSecond = 1e9 / nsPerOp;
      const target = group.targetOpsPerSecond;
      rows.push([
        c.name,
        mops(opsPerSecond),
        fmt(nsPerOp, 2),
        c.seed ? mops(c.seed.opsPerSecond) : '—',
        c.seed ? fmt(c.seed.nsPerOp, 0) : '—',
        c.seed ? `${fmt(opsPerSecond / c.seed.opsPerSecond, 1)} ×` : '—',
        c.reference || target === undefined ? 'reference' : opsPerSecond >= target ? `yes (≥ ${mops(target)})` : `no (≥ ${mops(target)})`,
        `±${fmt(r.latency.rme, 1)} %`,
      ]);
    }
    const markdown = `## ${group.title}\n\n${markdownTable(
      ['case', 'ops/s', 'ns/op', 'seed ops/s', 'seed ns', 'vs seed', 'target met', 'rme'],
      rows,
      [false, true, true, true, true, true, false, true],
    )}`;
    process.stdout.write(`\n${markdown}\n`);
    printed.push({ group: name, markdown });
  }
  // Printing the sink keeps every case's result observable.
  if (inProcess.length > 0) process.stdout.write(`\n(Node ${process.version}; batch results folded into ${sink % 1000})\n`);
  writeResults(started, command, names, printed);
}

/** Writes what the groups printed to bench/results/micro-<groups>-<date>.md and .json. */
function writeResults(started: Date, command: string, names: string[], printed: Array<{ group: string; markdown: string }>): void {
  const machine = `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`;
  const md = [`# Micro-benchmarks, ${started.toISOString()}`, '', `Command: \`${command}\``, '', `${machine}.`, '', ...printed.map((p) => `${p.markdown}\n`)].join('\n');
  const dir = fileURLToPath(new URL('../../bench/results', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const base = `${dir}/micro-${names.join('-')}-${stamp(started)}`;
  writeFileSync(`${base}.md`, md);
  writeFileSync(`${base}.json`, `${JSON.stringify({ started: started.toISOString(), command, node: process.version, cpus: cpus().length, groups: printed }, null, 2)}\n`);
  process.stderr.write(`bench/micro: wrote ${relative(process.cwd(), base)}.md and .json\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/micro: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
