/**
 * End-to-end benchmark: every target in its own process on loopback, driven
 * in one run by the same generator (src/loadtest, worker threads) with the same
 * loads, so the ratios hold even on a shared 2-core machine.
 *
 *   (a) raw ws JSON echo              the floor of Node + ws
 *   (a') raw ws, corked per tick      the tuned floor: replies of one tick in one writev, as mcp-ws does
 *   (b) mcp-ws, native router         the demo router's echo tool
 *   (c) mcp-ws hosting SDK McpServer  SdkHost, an equivalent echo tool
 *   (d) SDK Streamable HTTP           stateless, JSON responses, undici keep-alive pool
 *   (e) mcp-ws Streamable HTTP        the server of (b) over HTTP at /mcp, same pool
 *
 * Loads: 100 connections × 1 in flight and 10 connections × 32 in flight,
 * 200 B requests (closed loop); then an open loop at half of (b)'s saturated
 * rate for (a)–(c), and at half of (d)'s own for (d).
 *
 *   npm run bench                       full run: 3 rounds of 5 s windows (about 5 minutes)
 *   npm run bench -- --quick            1 round of 1.5 s windows (under a minute)
 *   npm run bench -- --profile native   also write a CPU profile of (b) (comma-separated keys for more)
 *
 * Named suites (not in the default set; each has its own targets, selectable
 * with --targets too, and its own tables and result files):
 *
 *   npm run bench -- --suite features   rate limiting and auth cost vs native; rate limit hit (bench/suites/features.ts)
 *   npm run bench -- --suite handshake  sessions opened + initialized per second by auth method (bench/suites/handshake.ts)
 *   npm run bench -- --suite gateway    mcp-ws gateway vs supergateway over server-everything (bench/suites/gateway.ts)
 *   npm run bench -- --targets native,native-rl   a suite's targets by key (the suite follows from the keys)
 *
 * Rounds interleave the targets (a b c d, a b c d, …) so a burst of other
 * work on a shared machine hits every target alike; a closed-loop row is the
 * round with the highest req/s (noise only ever slows a run down), an
 * open-loop row the round with the median p99. Where the machine is busy with
 * other work the processes get less than a core each; "req/s per server core"
 * (throughput ÷ the server's CPU share, the best round of each target: the
 * least server CPU per request) is then the steadier comparison.
 *
 * Prints Markdown tables and writes bench/results/e2e-<date>.json and .md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveBenchOptions, type BenchInput } from '../src/loadtest/options.js';
import { runBench, type BenchResult } from '../src/loadtest/runner.js';
import { CpuWindow, TargetProcess } from './lib/target-process.js';
import { fmt, markdownTable } from './lib/markdown.js';
import type { Suite, SuiteArgs } from './lib/suite.js';
import { featuresSuite } from './suites/features.js';
import { handshakeSuite } from './suites/handshake.js';
import { gatewaySuite } from './suites/gateway.js';

/** The named suites besides the default e2e comparison, in the order they run. */
const SUITES: Suite[] = [featuresSuite, handshakeSuite, gatewaySuite];
const SUITE_NAMES = ['e2e', ...SUITES.map((x) => x.name)];

interface TargetSpec {
  key: string;
  label: string;
  script: string;
}

const TARGETS: TargetSpec[] = [
  { key: 'raw', label: '(a) raw ws echo', script: './targets/raw-ws.js' },
  { key: 'raw-corked', label: "(a') raw ws, corked per tick", script: './targets/raw-ws-corked.js' },
  { key: 'native', label: '(b) mcp-ws native', script: './targets/native.js' },
  { key: 'sdk-host', label: '(c) mcp-ws + SDK McpServer', script: './targets/sdk-host.js' },
  { key: 'sdk-http', label: '(d) SDK Streamable HTTP', script: './targets/sdk-http.js' },
  { key: 'native-http', label: '(e) mcp-ws Streamable HTTP', script: './targets/native-http.js' },
  { key: 'sdk2-host', label: '(c2) mcp-ws + SDK v2 McpServer', script: './targets/sdk2-host.js' },
  { key: 'sdk2-http', label: '(d2) SDK v2 Streamable HTTP', script: './targets/sdk2-http.js' },
];

interface Load {
  key: string;
  label: string;
  connections: number;
  concurrency: number;
}

const LOADS: Load[] = [
  { key: 'c100x1', label: '100 connections × 1 in flight, 200 B', connections: 100, concurrency: 1 },
  { key: 'c10x32', label: '10 connections × 32 in flight, 200 B', connections: 10, concurrency: 32 },
];

const OPEN_LOOP_CONNECTIONS = 100;

interface Row {
  target: string;
  label: string;
  load: string;
  rate?: number;
  throughput: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  serverCpu: number;
  generatorCpu: number;
  ok: number;
  errors: number;
  timeouts: number;
  /** Closed loop: the highest req/s per server core of any round (the least server CPU per request). */
  perCore?: number;
  /** Open loop: p99 of how late the generator sent after the intended time, ms. */
  sendLagP99?: number;
  round?: number;
  firstError?: string;
}

function usage(message: string): never {
  process.stderr.write(`bench/e2e: ${message}\n`);
  process.exit(1);
}

interface Args {
  quick: boolean;
  duration: number;
  warmup: number;
  rounds: number;
  workers: number;
  targets: TargetSpec[];
  profile: string[];
  /** Suites to run, in order: 'e2e' and/or named suites. */
  suites: string[];
  /** What the named suites get (their targets are filled in per suite). */
  suiteArgs: Omit<SuiteArgs, 'targets'>;
  /** Target keys asked for with --targets, if any. */
  targetKeys: string[] | undefined;
}

const OPTIONS_HELP =
  '--quick --duration S --warmup S --rounds N --workers N --targets KEY[,KEY] --profile KEY[,KEY] ' +
  `--suite ${SUITE_NAMES.join('|')}[,…] --limit-rate R --parallel N`;

function suiteOf(key: string): string[] {
  const names: string[] = [];
  if (TARGETS.some((t) => t.key === key)) names.push('e2e');
  for (const x of SUITES) if (x.targets.some((t) => t.key === key)) names.push(x.name);
  return names;
}

function parse(): Args {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        rounds: { type: 'string' },
        workers: { type: 'string', default: '1' },
        targets: { type: 'string' },
        profile: { type: 'string' },
        suite: { type: 'string' },
        'limit-rate': { type: 'string' },
        parallel: { type: 'string' },
      },
      strict: true,
    }));
  } catch (err) {
    usage(`${(err as Error).message} (options: ${OPTIONS_HELP})`);
  }
  const num = (name: string, v: string | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) usage(`--${name} should be a positive number, got "${v}"`);
    return n;
  };
  const int = (name: string, v: string | undefined, dflt: number): number => {
    const n = num(name, v, dflt);
    if (!Number.isInteger(n)) usage(`--${name} should be an integer, got "${v}"`);
    return n;
  };
  const quick = values.quick === true;
  const targetKeys = values.targets?.split(',').map((s) => s.trim());
  const allKeys = [...TARGETS.map((t) => t.key), ...SUITES.flatMap((x) => x.targets.map((t) => t.key))];
  for (const k of targetKeys ?? []) if (suiteOf(k).length === 0) usage(`unknown target "${k}"; targets: ${[...new Set(allKeys)].join(', ')}`);
  let suites: string[];
  if (values.suite !== undefined) {
    suites = values.suite.split(',').map((s) => s.trim());
    for (const x of suites) if (!SUITE_NAMES.includes(x)) usage(`unknown suite "${x}"; suites: ${SUITE_NAMES.join(', ')}`);
    for (const k of targetKeys ?? []) {
      if (!suiteOf(k).some((x) => suites.includes(x))) usage(`target "${k}" belongs to suite ${suiteOf(k).join(' or ')}, not to --suite ${values.suite}`);
    }
  } else if (targetKeys !== undefined) {
    // The suite follows from the keys: e2e when they all are its targets, else each key's suite.
    suites = targetKeys.every((k) => suiteOf(k).includes('e2e')) ? ['e2e'] : SUITE_NAMES.filter((x) => x !== 'e2e' && targetKeys.some((k) => suiteOf(k).includes(x)));
  } else {
    suites = ['e2e'];
  }
  suites = SUITE_NAMES.filter((x) => suites.includes(x));
  const e2eKeys = targetKeys?.filter((k) => TARGETS.some((t) => t.key === k)) ?? TARGETS.map((t) => t.key);
  const profile = values.profile?.split(',').map((s) => s.trim()) ?? [];
  if (profile.length > 0 && !suites.includes('e2e')) usage('--profile applies to the e2e suite');
  for (const k of profile) if (!e2eKeys.includes(k)) usage(`--profile should name targets of this run, got "${k}"`);
  const workers = int('workers', values.workers, 1);
  const rounds = int('rounds', values.rounds, quick ? 1 : 3);
  return {
    quick,
    duration: num('duration', values.duration, quick ? 1.5 : 5),
    warmup: num('warmup', values.warmup, quick ? 0.5 : 1),
    rounds,
    workers,
    targets: TARGETS.filter((t) => e2eKeys.includes(t.key)),
    profile,
    suites,
    targetKeys,
    suiteArgs: {
      quick,
      duration: values.duration === undefined ? undefined : num('duration', values.duration, 0),
      warmup: values.warmup === undefined ? undefined : num('warmup', values.warmup, 0),
      rounds: values.rounds === undefined ? undefined : rounds,
      workers,
      limitRate: num('limit-rate', values['limit-rate'], 5000),
      parallel: int('parallel', values.parallel, 20),
    },
  };
}

async function measure(target: TargetProcess, spec: TargetSpec, loadLabel: string, input: BenchInput): Promise<Row> {
  const cpu = new CpuWindow(target);
  const options = resolveBenchOptions(target.url, { timeoutMs: 10_000, ...input });
  const r: BenchResult = await runBench(options, { onMeasureStart: () => cpu.begin(), onMeasureEnd: () => cpu.end() });
  const row: Row = {
    target: spec.key,
    label: spec.label,
    load: loadLabel,
    throughput: r.throughput,
    p50: r.latencyMs.p50,
    p99: r.latencyMs.p99,
    p999: r.latencyMs.p999,
    max: r.latencyMs.max,
    serverCpu: cpu.percent,
    generatorCpu: r.generatorCpuPercent,
    ok: r.requests.ok,
    errors: r.requests.error + r.connections.failed,
    timeouts: r.requests.timeout,
  };
  if (options.rate !== undefined) row.rate = options.rate;
  if (r.sendLagMs !== undefined) row.sendLagP99 = r.sendLagMs.p99;
  if (r.firstError !== undefined) row.firstError = r.firstError;
  process.stderr.write(
    `  ${spec.label.padEnd(28)} ${fmt(r.throughput).padStart(8)} req/s  p99 ${fmt(r.latencyMs.p99)} ms  server ${fmt(cpu.percent, 0)} %  generator ${fmt(r.generatorCpuPercent, 0)} %${r.firstError ? `  (${r.firstError})` : ''}\n`,
  );
  return row;
}

function closedTable(rows: Row[]): string {
  const floor = rows.find((r) => r.target === 'raw')?.throughput;
  const tuned = rows.find((r) => r.target === 'raw-corked')?.throughput;
  const sdkHttp = rows.find((r) => r.target === 'sdk-http')?.throughput;
  return markdownTable(
    ['target', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'server CPU %', 'generator CPU %', 'req/s per server core (best round)', '× (a)', "× (a')", '× (d)', 'errors+timeouts'],
    rows.map((r) => [
      r.label,
      fmt(r.throughput),
      fmt(r.p50),
      fmt(r.p99),
      fmt(r.p999),
      fmt(r.serverCpu, 0),
      fmt(r.generatorCpu, 0),
      fmt(r.perCore),
      floor ? fmt(r.throughput / floor) : '—',
      tuned ? fmt(r.throughput / tuned) : '—',
      sdkHttp ? fmt(r.throughput / sdkHttp, 1) : '—',
      r.errors + r.timeouts,
    ]),
    [false, true, true, true, true, true, true, true, true, true, true, true],
  );
}

function openTable(rows: Row[]): string {
  return markdownTable(
    ['target', 'rate req/s', 'achieved req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'send lag p99 ms', 'server CPU %', 'generator CPU %', 'errors+timeouts'],
    rows.map((r) => [
      r.label,
      fmt(r.rate),
      fmt(r.throughput),
      fmt(r.p50),
      fmt(r.p99),
      fmt(r.p999),
      fmt(r.max),
      fmt(r.sendLagP99),
      fmt(r.serverCpu, 0),
      fmt(r.generatorCpu, 0),
      r.errors + r.timeouts,
    ]),
    [false, true, true, true, true, true, true, true, true, true, true],
  );
}

function stamp(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

async function main(): Promise<void> {
  const args = parse();
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const resultsDir = `${root}bench/results`;
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  for (const name of args.suites) {
    if (name === 'e2e') {
      await runE2e(args, resultsDir, command);
      continue;
    }
    const suite = SUITES.find((x) => x.name === name)!;
    const keys = suite.targets.map((t) => t.key).filter((k) => args.targetKeys === undefined || args.targetKeys.includes(k));
    if (keys.length === 0) continue;
    await suite.run({ ...args.suiteArgs, targets: keys }, { root, resultsDir, command });
  }
}

async function runE2e(args: Args, resultsDir: string, command: string): Promise<void> {
  const started = new Date();
  const load0 = loadavg();
  process.stderr.write(
    `e2e: ${args.targets.length} targets, ${args.rounds} round(s) of ${args.duration} s measured after ${args.warmup} s warm-up, ${args.workers} generator worker(s)\n`,
  );

  const procs = new Map<string, TargetProcess>();
  const profileDir = `${resultsDir}/profiles`;
  try {
    for (const t of args.targets) {
      const execArgv = args.profile.includes(t.key) ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}/${t.key}`] : [];
      if (execArgv.length > 0) mkdirSync(`${profileDir}/${t.key}`, { recursive: true });
      procs.set(t.key, await TargetProcess.start(t.key, new URL(t.script, import.meta.url), { execArgv }));
    }
    const common = { duration: args.duration, warmup: args.warmup, workers: args.workers };
    const all: Row[] = [];
    const closed: Record<string, Row[]> = {};
    for (const load of LOADS) {
      process.stderr.write(`${load.label}\n`);
      const byTarget = new Map<string, Row[]>();
      for (let round = 1; round <= args.rounds; round++) {
        if (args.rounds > 1) process.stderr.write(` round ${round}/${args.rounds}\n`);
        for (const t of args.targets) {
          const row = await measure(procs.get(t.key)!, t, load.key, { ...common, connections: load.connections, concurrency: load.concurrency });
          row.round = round;
          all.push(row);
          byTarget.set(t.key, [...(byTarget.get(t.key) ?? []), row]);
        }
      }
      closed[load.key] = args.targets.map((t) => {
        const rounds = byTarget.get(t.key)!;
        const best = { ...rounds.reduce((b, r) => (r.throughput > b.throughput ? r : b)) };
        const perCore = Math.max(...rounds.map((r) => (r.serverCpu > 0 ? r.throughput / (r.serverCpu / 100) : 0)));
        if (perCore > 0) best.perCore = perCore;
        return best;
      });
    }
    const saturated = (key: string): number | undefined => {
      const rates = LOADS.map((l) => closed[l.key]!.find((r) => r.target === key)?.throughput ?? 0);
      const best = Math.max(...rates);
      return best > 0 ? best : undefined;
    };
    const nativeSat = saturated('native');
    const openByTarget = new Map<string, Row[]>();
    process.stderr.write(`open loop, ${OPEN_LOOP_CONNECTIONS} connections, 200 B\n`);
    for (let round = 1; round <= args.rounds; round++) {
      if (args.rounds > 1) process.stderr.write(` round ${round}/${args.rounds}\n`);
      for (const t of args.targets) {
        const base = t.key === 'sdk-http' || t.key === 'sdk2-http' || t.key === 'native-http' ? saturated(t.key) : (nativeSat ?? saturated(t.key));
        if (base === undefined) continue;
        const rate = Math.max(1, Math.round(base / 2));
        const row = await measure(procs.get(t.key)!, t, 'open', { ...common, connections: OPEN_LOOP_CONNECTIONS, rate });
        row.round = round;
        all.push(row);
        openByTarget.set(t.key, [...(openByTarget.get(t.key) ?? []), row]);
      }
    }
    const open = args.targets.flatMap((t) => {
      const rows = [...(openByTarget.get(t.key) ?? [])].sort((x, y) => x.p99 - y.p99);
      return rows.length > 0 ? [rows[Math.floor((rows.length - 1) / 2)]!] : [];
    });

    // ------------------------------------------------------------ report
    const nodeInfo = `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`;
    const lines: string[] = [];
    lines.push(`# mcp-ws e2e benchmark, ${started.toISOString()}`, '');
    lines.push(`Command: \`${command}\``, '');
    lines.push(
      `${nodeInfo}. Loopback; each target in its own process; one generator (\`src/loadtest\`, ${args.workers} worker thread(s)) for all. ` +
        `${args.duration} s measured after ${args.warmup} s warm-up per run, ${args.rounds} round(s) interleaving the targets` +
        `${args.rounds > 1 ? ' (closed loop: the round with the highest req/s; open loop: the round with the median p99)' : ''}. ` +
        `CPU % is of one core; the machine has ${cpus().length}. ` +
        `Load average (1, 5, 15 min) at the start: ${load0.map((x) => x.toFixed(2)).join(', ')}; at the end: ${loadavg().map((x) => x.toFixed(2)).join(', ')}.`,
      '',
    );
    for (const load of LOADS) {
      lines.push(`## Closed loop: ${load.label}`, '', closedTable(closed[load.key]!), '');
    }
    lines.push(
      `## Open loop: ${OPEN_LOOP_CONNECTIONS} connections, 200 B, latency from intended send times`,
      '',
      `(a)–(c) and (c2) at half of (b)'s saturated rate${nativeSat ? ` (${fmt(nativeSat)} req/s)` : ''}; (d), (d2) and (e) at half of their own.`,
      '',
      openTable(open),
      '',
    );
    const checks: Array<{ check: string; value: string; target: string; pass: boolean }> = [];
    for (const load of LOADS) {
      const rows = closed[load.key]!;
      const get = (k: string): number | undefined => rows.find((r) => r.target === k)?.throughput;
      const a = get('raw');
      const b = get('native');
      const c = get('sdk-host');
      const d = get('sdk-http');
      if (a && b) checks.push({ check: `native / floor, ${load.label}`, value: fmt(b / a), target: '≥ 0.85', pass: b / a >= 0.85 });
      const t = get('raw-corked');
      if (t && b) checks.push({ check: `native / tuned floor (corked), ${load.label}`, value: fmt(b / t), target: '(≥ 0.85)', pass: b / t >= 0.85 });
      const perCore = (k: string): number | undefined => rows.find((x) => x.target === k)?.perCore;
      const ac = perCore('raw');
      const bc = perCore('native');
      if (ac && bc) {
        checks.push({ check: `native / floor per server core (CPU-normalised), ${load.label}`, value: fmt(bc / ac), target: '(≥ 0.85)', pass: bc / ac >= 0.85 });
      }
      if (b && d) checks.push({ check: `native / SDK Streamable HTTP, ${load.label}`, value: fmt(b / d, 1), target: '≥ 15', pass: b / d >= 15 });
      const e = get('native-http');
      if (e && d) checks.push({ check: `mcp-ws Streamable HTTP / SDK Streamable HTTP, ${load.label}`, value: fmt(e / d, 1), target: '≥ 5', pass: e / d >= 5 });
      if (a && c) checks.push({ check: `SDK-hosted / floor, ${load.label}`, value: fmt(c / a), target: '≥ 0.5', pass: c / a >= 0.5 });
      const c2 = get('sdk2-host');
      const d2 = get('sdk2-http');
      if (b && d2) checks.push({ check: `native / SDK v2 Streamable HTTP, ${load.label}`, value: fmt(b / d2, 1), target: '≥ 15', pass: b / d2 >= 15 });
      if (a && c2) checks.push({ check: `SDK v2-hosted / floor, ${load.label}`, value: fmt(c2 / a), target: '≥ 0.5', pass: c2 / a >= 0.5 });
    }
    const nativeOpen = open.find((r) => r.target === 'native');
    if (nativeOpen) {
      checks.push({
        check: `native p99, open loop at ${fmt(nativeOpen.rate)} req/s`,
        value: `${fmt(nativeOpen.p99)} ms`,
        target: '< 5 ms',
        pass: nativeOpen.p99 < 5 && nativeOpen.errors + nativeOpen.timeouts === 0,
      });
    }
    lines.push(
      '## Against the targets',
      '',
      markdownTable(
        ['check', 'measured', 'target', 'met'],
        checks.map((c) => [c.check, c.value, c.target, c.pass ? 'yes' : 'no']),
      ),
      '',
    );
    const bound = [...Object.values(closed).flat(), ...open].filter((r) => r.generatorCpu >= 95 && r.serverCpu < 90);
    if (bound.length > 0) {
      lines.push(
        `Generator near one core while the server was not saturated in: ${bound.map((r) => `${r.label} (${r.load})`).join(', ')} — try --workers 2.`,
        '',
      );
    }
    const md = lines.join('\n');
    process.stdout.write(`\n${md}\n`);
    mkdirSync(resultsDir, { recursive: true });
    const base = `${resultsDir}/e2e-${stamp(started)}`;
    writeFileSync(`${base}.md`, `${md}\n`);
    writeFileSync(
      `${base}.json`,
      `${JSON.stringify({ started: started.toISOString(), command, node: process.version, cpus: cpus().length, loadavg: { start: load0, end: loadavg() }, args, closed, open, checks, allRuns: all }, null, 2)}\n`,
    );
    process.stderr.write(`e2e: wrote ${relative(process.cwd(), base)}.md and .json\n`);
  } finally {
    await Promise.all([...procs.values()].map((p) => p.stop()));
    for (const k of args.profile) process.stderr.write(`e2e: CPU profile of ${k} in ${relative(process.cwd(), profileDir)}/${k}/\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/e2e: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
