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
 */
import { Bench } from 'tinybench';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MicroGroup } from './micro/group.js';
import { fmt, markdownTable } from './lib/markdown.js';

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
  for (const n of names.filter((x) => x in SCRIPTS)) {
    const script = fileURLToPath(new URL(`./${SCRIPTS[n]}`, import.meta.url));
    const r = spawnSync(process.execPath, [script], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
  const inProcess = names.filter((x) => x in GROUPS);
  if (inProcess.length === 0) return;
  const time = Number(parsed.values.time);
  if (!Number.isFinite(time) || time <= 0) usage(`--time should be a positive number of ms, got "${parsed.values.time}"`);

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
    process.stdout.write(`\n## ${group.title}\n\n`);
    process.stdout.write(
      `${markdownTable(
        ['case', 'ops/s', 'ns/op', 'seed ops/s', 'seed ns', 'vs seed', 'target met', 'rme'],
        rows,
        [false, true, true, true, true, true, false, true],
      )}\n`,
    );
  }
  // Printing the sink keeps every case's result observable.
  process.stdout.write(`\n(Node ${process.version}; batch results folded into ${sink % 1000})\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/micro: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
