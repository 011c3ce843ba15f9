/**
 * `npm run bench -- --suite features`: what a feature costs on the native
 * router's hot path, side by side in one run, and what rate limiting does
 * when its limit is hit.
 *
 * Cost: mcp-ws native (bench/targets/native.ts) against the same server with
 * one feature on (bench/targets/native-features.ts):
 *   native-rl     TokenBucket per connection, 1e9 req/s, burst 1e9 (never reached)
 *   native-rl-ig  TokenBucket per identity (anonymous: the IP) and global, 1e9 / 1e9
 *   native-auth   static bearer token (verified at the upgrade; sessions open before measuring)
 *   native-dash1  dashboard: true, with 1 viewer reading the snapshot stream
 *   native-dash100  dashboard: true, with 100 viewers (the stream is one
 *                 snapshot a second shared by all; the viewers are SSE clients
 *                 in the target's own process, so their reading counts against it)
 *   native-trace  @opentelemetry/api loaded and a tracer provider registered whose
 *                 spans record nothing: a SERVER span begun, made active and ended
 *                 per request, without an exporter
 *   native-aa     the same server as native, a second process: an A/A control
 *                 whose "cost" is the noise of the method on this machine
 *   native-2026   the same server as native, the same echo call sent as a
 *                 2026-07-28 stateless request (`_meta` with version, client
 *                 info and capabilities on every request, ~170 B more; the
 *                 result carries resultType and serverInfo): the era check,
 *                 the _meta reading and the result wrapping against a legacy
 *                 session's tools/call. The generator still opens each
 *                 connection with initialize; the server serves each request
 *                 by its own era, so the session is not read.
 * Loads: 100 connections × 1 in flight and 10 connections × 32 in flight,
 * 200 B echo, closed loop. Rounds interleave the targets, each round starting
 * one target further along (so no server always runs first); the table gives
 * the best round of each (noise only slows a run down) and the median and
 * range over rounds of the cost against native *in the same round* (the runs
 * were seconds apart, so a change in the machine's load hits both).
 *
 * Limit hit (target rl-hit): one global TokenBucket at --limit-rate (default
 * 5,000 req/s, burst rate/50), rateLimitCloseAfter 0, driven by open loops at
 * 0.5×, 1.5× and 3× the limit (100 connections) and a closed loop of
 * 10 × 32 (at most 3 rounds); and, as a reference, native without a limiter
 * at the same 1.5× and 3× offered loads. The generator counts JSON-RPC errors apart from successes and
 * records latency of successes only, so "allowed" figures are the allowed
 * requests' own; the server's limiter counters are read over the same window
 * as a cross-check.
 */
import { randomBytes } from 'node:crypto';
import type { BenchInput } from '../../src/loadtest/options.js';
import type { BenchResult } from '../../src/loadtest/runner.js';
import { buildRequestTemplate } from '../../src/loadtest/request-template.js';
import { fmt, markdownTable } from '../lib/markdown.js';
import {
  loadAverage,
  measureRun,
  median,
  nodeInfo,
  perCore,
  progress,
  timing,
  writeResults,
  type Suite,
  type SuiteArgs,
  type SuiteContext,
} from '../lib/suite.js';
import { CpuWindow, TargetProcess } from '../lib/target-process.js';

interface FeatureTarget {
  key: string;
  label: string;
  script: string;
  env: Record<string, string>;
  /** Cost target in % of native throughput; undefined for native and rl-hit. */
  budget?: number;
  headers?: Record<string, string>;
  /** Request params instead of the default 200 B echo. */
  params?: Record<string, unknown>;
}

/** The default 200 B echo call's params, with the 2026-07-28 per-request `_meta`. */
function statelessEchoParams(): Record<string, unknown> {
  const legacy = (JSON.parse(`{"id":1${buildRequestTemplate('tools/call', undefined, 200).suffix}`) as { params: Record<string, unknown> }).params;
  return {
    ...legacy,
    _meta: {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientInfo': { name: 'mcp-ws-bench', version: '0.1.0' },
      'io.modelcontextprotocol/clientCapabilities': {},
    },
  };
}

const TOKEN = randomBytes(24).toString('hex');

function targetsFor(limitRate: number): FeatureTarget[] {
  return [
    { key: 'native', label: 'native, no feature', script: '../targets/native.js', env: {} },
    { key: 'native-aa', label: 'native again (A/A control)', script: '../targets/native.js', env: {} },
    {
      key: 'native-noresume',
      label: '- SEP-1288 resume (resumeGraceMs 0: no wrapper)',
      script: '../targets/native-features.js',
      env: { FEATURE: 'resume-off' },
    },
    {
      key: 'native-rl',
      label: '+ rate limit per connection (never hit)',
      script: '../targets/native-features.js',
      env: { FEATURE: 'rl-conn' },
      budget: 3,
    },
    {
      key: 'native-rl-ig',
      label: '+ rate limit identity + global (never hit)',
      script: '../targets/native-features.js',
      env: { FEATURE: 'rl-id-global' },
      budget: 3,
    },
    {
      key: 'native-auth',
      label: '+ static bearer token auth',
      script: '../targets/native-features.js',
      env: { FEATURE: 'auth-token', BENCH_TOKEN: TOKEN },
      budget: 2,
      headers: { Authorization: `Bearer ${TOKEN}` },
    },
    {
      key: 'native-dash1',
      label: '+ dashboard on, 1 viewer streaming (per-method latency always on)',
      script: '../targets/native-features.js',
      env: { FEATURE: 'dashboard', VIEWERS: '1' },
      budget: 3,
    },
    {
      key: 'native-dash100',
      label: '+ dashboard on, 100 viewers streaming',
      script: '../targets/native-features.js',
      env: { FEATURE: 'dashboard', VIEWERS: '100' },
      budget: 3,
    },
    {
      key: 'native-trace',
      label: '+ tracing: a no-op tracer provider registered (span per request)',
      script: '../targets/native-features.js',
      env: { FEATURE: 'tracing-noop' },
      budget: 5,
    },
    {
      key: 'native-2026',
      label: '2026-07-28 stateless tools/call (_meta per request)',
      script: '../targets/native.js',
      env: {},
      budget: 10,
      params: statelessEchoParams(),
    },
    {
      key: 'rl-hit',
      label: `rate limit hit (global, ${fmt(limitRate)} req/s)`,
      script: '../targets/native-features.js',
      env: { FEATURE: 'rl-hit', LIMIT_RATE: String(limitRate), LIMIT_SCOPE: 'global' },
    },
  ];
}

const COST_LOADS = [
  { key: 'c100x1', label: '100 connections × 1 in flight, 200 B', connections: 100, concurrency: 1 },
  { key: 'c10x32', label: '10 connections × 32 in flight, 200 B', connections: 10, concurrency: 32 },
];

interface CostRun {
  target: string;
  load: string;
  round: number;
  throughput: number;
  p50: number;
  p99: number;
  p999: number;
  serverCpu: number;
  generatorCpu: number;
  errors: number;
  timeouts: number;
  firstError?: string;
}

interface HitRun {
  /** rl-hit, or native (no limiter) at the same offered load as a reference. */
  target: string;
  load: string;
  round: number;
  /** Open loop: the offered rate. */
  rate?: number;
  sentPerSecond: number;
  allowedPerSecond: number;
  deniedPerSecond: number;
  serverAllowedPerSecond: number;
  serverDeniedPerSecond: number;
  p50: number;
  p99: number;
  p999: number;
  sendLagP99?: number;
  serverCpu: number;
  generatorCpu: number;
  timeouts: number;
  lost: number;
  firstError?: string;
}

/** "1.2 %" (a cost), "−0.8 %" (the feature ran faster: noise). */
function pct(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  const v = Math.round(x * 1000) / 10;
  return `${v < 0 ? '−' : ''}${Math.abs(v).toFixed(1)} %`;
}

/** Stats window: the target's counters at begin and end. */
class StatsWindow {
  private s0: Record<string, number> = {};
  private t0 = 0;
  delta: Record<string, number> = {};
  seconds = 0;

  constructor(private readonly target: TargetProcess) {}

  async begin(): Promise<void> {
    this.s0 = await this.target.stats();
    this.t0 = performance.now();
  }

  async end(): Promise<void> {
    const s1 = await this.target.stats();
    this.seconds = (performance.now() - this.t0) / 1000;
    this.delta = Object.fromEntries(Object.entries(s1).map(([k, v]) => [k, v - (this.s0[k] ?? 0)]));
  }
}

async function run(args: SuiteArgs, ctx: SuiteContext): Promise<void> {
  const t = timing(args, { rounds: 8, duration: 2, warmup: 1 });
  const all = targetsFor(args.limitRate).filter((x) => args.targets.includes(x.key));
  const costTargets = all.filter((x) => x.key !== 'rl-hit');
  const hit = all.find((x) => x.key === 'rl-hit');
  const started = new Date();
  const load0 = loadAverage();
  process.stderr.write(`features: ${all.map((x) => x.key).join(', ')}; ${t.rounds} round(s) of ${t.duration} s after ${t.warmup} s warm-up\n`);
  const procs = new Map<string, TargetProcess>();
  const common = { duration: t.duration, warmup: t.warmup, workers: args.workers };
  const costRuns: CostRun[] = [];
  const hitRuns: HitRun[] = [];
  try {
    for (const x of all) procs.set(x.key, await TargetProcess.start(x.key, new URL(x.script, import.meta.url), { env: x.env }));

    // ------------------------------------------------------------ cost
    for (const load of costTargets.length > 0 ? COST_LOADS : []) {
      process.stderr.write(`${load.label}\n`);
      for (let round = 1; round <= t.rounds; round++) {
        if (t.rounds > 1) process.stderr.write(` round ${round}/${t.rounds}\n`);
        const n = costTargets.length;
        for (let j = 0; j < n; j++) {
          const x = costTargets[(j + round - 1) % n]!;
          const p = procs.get(x.key)!;
          const cpu = new CpuWindow(p);
          const input: BenchInput = { ...common, connections: load.connections, concurrency: load.concurrency };
          if (x.headers) input.header = x.headers;
          if (x.params) input.params = x.params;
          const r = await measureRun(p.url, input, [cpu]);
          progress(x.label, r, cpu.percent);
          costRuns.push({
            target: x.key,
            load: load.key,
            round,
            throughput: r.throughput,
            p50: r.latencyMs.p50,
            p99: r.latencyMs.p99,
            p999: r.latencyMs.p999,
            serverCpu: cpu.percent,
            generatorCpu: r.generatorCpuPercent,
            errors: r.requests.error + r.connections.failed,
            timeouts: r.requests.timeout,
            ...(r.firstError !== undefined ? { firstError: r.firstError } : {}),
          });
        }
      }
    }

    // ------------------------------------------------------- limit hit
    const limit = args.limitRate;
    const hitLoads: Array<{ key: string; label: string; input: BenchInput }> = [
      { key: 'open0.5', label: `open loop 0.5 × limit (${fmt(limit * 0.5)} req/s), 100 connections`, input: { connections: 100, rate: limit * 0.5 } },
      { key: 'open1.5', label: `open loop 1.5 × limit (${fmt(limit * 1.5)} req/s), 100 connections`, input: { connections: 100, rate: limit * 1.5 } },
      { key: 'open3', label: `open loop 3 × limit (${fmt(limit * 3)} req/s), 100 connections`, input: { connections: 100, rate: limit * 3 } },
      { key: 'closed10x32', label: 'closed loop 10 connections × 32 in flight', input: { connections: 10, concurrency: 32 } },
    ];
    const hitRounds = Math.min(3, t.rounds);
    if (hit) {
      const p = procs.get('rl-hit')!;
      process.stderr.write(`rate limit hit: global TokenBucket ${fmt(limit)} req/s\n`);
      const native = procs.get('native');
      const refLoads = native ? hitLoads.filter((l) => l.key === 'open1.5' || l.key === 'open3') : [];
      for (let round = 1; round <= hitRounds; round++) {
        if (hitRounds > 1) process.stderr.write(` round ${round}/${hitRounds}\n`);
        const plan: Array<{ target: string; proc: TargetProcess; load: (typeof hitLoads)[number] }> = [];
        for (const load of hitLoads) {
          plan.push({ target: 'rl-hit', proc: p, load });
          // The same offered load on the server without a limiter: what the load alone does to latency.
          if (refLoads.includes(load)) plan.push({ target: 'native', proc: native!, load });
        }
        for (const { target, proc, load } of plan) {
          const cpu = new CpuWindow(proc);
          const stats = new StatsWindow(proc);
          const r: BenchResult = await measureRun(proc.url, { ...common, ...load.input }, [cpu, stats]);
          const w = r.windowSeconds;
          const row: HitRun = {
            target,
            load: load.key,
            round,
            sentPerSecond: r.requests.sent / w,
            allowedPerSecond: r.throughput,
            deniedPerSecond: r.requests.error / w,
            serverAllowedPerSecond: (stats.delta.allowed ?? NaN) / stats.seconds,
            serverDeniedPerSecond: (stats.delta.denied ?? NaN) / stats.seconds,
            p50: r.latencyMs.p50,
            p99: r.latencyMs.p99,
            p999: r.latencyMs.p999,
            serverCpu: cpu.percent,
            generatorCpu: r.generatorCpuPercent,
            timeouts: r.requests.timeout,
            lost: r.connections.lost,
          };
          if (r.options.rate !== undefined) row.rate = r.options.rate;
          if (r.sendLagMs !== undefined) row.sendLagP99 = r.sendLagMs.p99;
          if (r.firstError !== undefined) row.firstError = r.firstError;
          process.stderr.write(
            `  ${`${target} ${load.key}`.padEnd(20)} sent ${fmt(row.sentPerSecond)}/s  ok ${fmt(row.allowedPerSecond)}/s  errors ${fmt(row.deniedPerSecond)}/s  ` +
              `ok p99 ${fmt(row.p99)} ms  server ${fmt(cpu.percent, 0)} %\n`,
          );
          hitRuns.push(row);
        }
      }
    }

    // ---------------------------------------------------------- report
    const lines: string[] = [];
    lines.push(`# mcp-ws feature costs, ${started.toISOString()}`, '');
    lines.push(`Command: \`${ctx.command}\``, '');
    lines.push(
      `${nodeInfo()}. Loopback; each server in its own process; one generator (\`src/loadtest\`, ${args.workers} worker thread(s)). ` +
        `${t.duration} s measured after ${t.warmup} s warm-up per run, ${t.rounds} round(s) interleaving the targets. ` +
        `CPU % is of one core. Load average (1, 5, 15 min) at the start: ${load0}; at the end: ${loadAverage()}.`,
      '',
    );
    const checks: Array<[string, string, string, string]> = [];
    for (const load of costTargets.length > 0 ? COST_LOADS : []) {
      const runs = costRuns.filter((r) => r.load === load.key);
      const of = (key: string): CostRun[] => runs.filter((r) => r.target === key);
      const best = (key: string): CostRun | undefined => of(key).reduce<CostRun | undefined>((b, r) => (b === undefined || r.throughput > b.throughput ? r : b), undefined);
      const bestCore = (key: string): number => Math.max(0, ...of(key).map((r) => perCore(r.throughput, r.serverCpu)));
      const nb = best('native');
      const nCore = bestCore('native');
      const pairedList = (key: string, f: (r: CostRun) => number): number[] => {
        const xs: number[] = [];
        for (const r of of(key)) {
          const n = of('native').find((q) => q.round === r.round);
          if (n && f(n) > 0) xs.push(1 - f(r) / f(n));
        }
        return xs;
      };
      const paired = (key: string, f: (r: CostRun) => number): number | undefined => {
        const xs = pairedList(key, f);
        return xs.length > 0 ? median(xs) : undefined;
      };
      const rows = costTargets.map((x) => {
        const b = best(x.key)!;
        const core = bestCore(x.key);
        const isBase = x.key === 'native';
        const costAbs = !isBase && nb ? 1 - b.throughput / nb.throughput : undefined;
        const costCore = !isBase && nCore > 0 ? 1 - core / nCore : undefined;
        const medAbs = isBase ? undefined : paired(x.key, (r) => r.throughput);
        const medCore = isBase ? undefined : paired(x.key, (r) => perCore(r.throughput, r.serverCpu));
        const range = isBase ? [] : pairedList(x.key, (r) => r.throughput);
        if (x.key === 'native-aa') {
          checks.push([`A/A control (native vs native), ${load.label}: "cost", median of paired rounds`, pct(medAbs), '≈ 0 (the noise)', '—']);
          checks.push([`A/A control, ${load.label}: "cost" per server core, median of paired rounds`, pct(medCore), '≈ 0 (the noise)', '—']);
        }
        if (x.budget !== undefined) {
          const within = (v: number | undefined): string => (v === undefined ? '—' : v <= x.budget! / 100 ? 'yes' : 'no');
          checks.push([`${x.label}, ${load.label}: throughput cost, median of paired rounds`, pct(medAbs), `≤ ${x.budget} %`, within(medAbs)]);
          checks.push([`${x.label}, ${load.label}: cost per server core, median of paired rounds`, pct(medCore), `(≤ ${x.budget} %)`, within(medCore)]);
        }
        return [
          x.label,
          fmt(b.throughput),
          fmt(b.p50),
          fmt(b.p99),
          fmt(b.serverCpu, 0),
          fmt(b.generatorCpu, 0),
          fmt(core),
          pct(costAbs),
          pct(costCore),
          pct(medAbs),
          range.length > 0 ? `${pct(Math.min(...range))} … ${pct(Math.max(...range))}` : '—',
          pct(medCore),
          of(x.key).reduce((n, r) => n + r.errors + r.timeouts, 0),
        ];
      });
      lines.push(
        `## Feature cost: ${load.label}`,
        '',
        markdownTable(
          [
            'server',
            'req/s (best round)',
            'p50 ms',
            'p99 ms',
            'server CPU %',
            'generator CPU %',
            'req/s per server core (best round)',
            'cost (best round)',
            'cost per core (best round)',
            'cost, median of rounds',
            'cost, range of rounds',
            'cost per core, median of rounds',
            'errors+timeouts (all rounds)',
          ],
          rows,
          [false, true, true, true, true, true, true, true, true, true, true, true, true],
        ),
        '',
      );
    }
    if (costTargets.length > 0) {
      lines.push(
        'Cost = 1 − feature ÷ native; negative means the feature run came out faster (noise). "Median / range of rounds" pair each round with native\'s run in the same round. ' +
          'The A/A row is native against a second native process: its "cost" is what this method reads when nothing differs.',
        '',
      );
    }
    if (hit) {
      const burst = Math.max(1, Math.round(limit / 50));
      const pick = (target: string, key: string): HitRun | undefined => {
        const runs = hitRuns.filter((r) => r.target === target && r.load === key).sort((a, b) => a.p99 - b.p99);
        return runs[Math.floor((runs.length - 1) / 2)];
      };
      const rows = hitLoads.map((load) => ({ load, r: pick('rl-hit', load.key)!, label: load.label }));
      const refs = hitLoads.flatMap((load) => {
        const r = pick('native', load.key);
        return r ? [{ load, r, label: `reference, no limiter: ${load.label}` }] : [];
      });
      const under = rows.find((x) => x.load.key === 'open0.5')?.r;
      lines.push(
        `## Rate limit hit: one global TokenBucket, ${fmt(limit)} req/s, burst ${fmt(burst)}`,
        '',
        `Target \`rl-hit\`: \`rateLimit: { strategy: 'TokenBucket', maxRequestsPerSecond: ${limit}, maxBurst: ${burst}, scope: 'global' }\`, ` +
          '`rateLimitCloseAfter: 0`. Allowed = successful answers per second of the window; denied = JSON-RPC errors (-32012) per second; ' +
          'latency is of allowed requests only (open loop: from the intended send time). The server columns are the limiter\'s own counters over the same window. ' +
          'The reference rows drive mcp-ws native without a limiter at the same offered load (every request served), so the load\'s own effect on latency shows apart from the limiter\'s. ' +
          `${hitRounds > 1 ? `${hitRounds} rounds; each row is the round with the median allowed p99.` : ''}`,
        '',
        markdownTable(
          [
            'load',
            'sent req/s',
            'allowed req/s',
            'allowed ÷ limit',
            'denied req/s',
            'server allowed/s',
            'server denied/s',
            'allowed p50 ms',
            'allowed p99 ms',
            'allowed p99.9 ms',
            'send lag p99 ms',
            'server CPU %',
            'generator CPU %',
            'timeouts',
          ],
          [...rows, ...refs].map(({ r, label }) => [
            label,
            fmt(r.sentPerSecond),
            fmt(r.allowedPerSecond),
            fmt(r.allowedPerSecond / limit, 3),
            fmt(r.deniedPerSecond),
            fmt(r.serverAllowedPerSecond),
            fmt(r.serverDeniedPerSecond),
            fmt(r.p50),
            fmt(r.p99),
            fmt(r.p999),
            fmt(r.sendLagP99),
            fmt(r.serverCpu, 0),
            fmt(r.generatorCpu, 0),
            r.timeouts + r.lost,
          ]),
          [false, true, true, true, true, true, true, true, true, true, true, true, true, true],
        ),
        '',
      );
      for (const { load, r } of rows) {
        if (load.key === 'open0.5') continue;
        const ratio = r.allowedPerSecond / limit;
        checks.push([`limit hit, ${load.label}: allowed ÷ configured rate`, fmt(ratio, 3), '1 ± 0.05', Math.abs(ratio - 1) <= 0.05 ? 'yes' : 'no']);
        if (under && under.p99 > 0) {
          const q = r.p99 / under.p99;
          checks.push([`limit hit, ${load.label}: allowed p99 ÷ p99 under the limit`, `${fmt(q)} (${fmt(r.p99)} / ${fmt(under.p99)} ms)`, 'flat (≤ 1.5)', q <= 1.5 ? 'yes' : 'no']);
        }
        const ref = refs.find((x) => x.load.key === load.key)?.r;
        if (ref && ref.p99 > 0) {
          const q = r.p99 / ref.p99;
          checks.push([`limit hit, ${load.label}: allowed p99 ÷ p99 of the same load with no limiter`, `${fmt(q)} (${fmt(r.p99)} / ${fmt(ref.p99)} ms)`, '(≤ 1.5)', q <= 1.5 ? 'yes' : 'no']);
        }
      }
    }
    if (checks.length > 0) {
      lines.push('## Against the targets', '', markdownTable(['check', 'measured', 'target', 'met'], checks), '');
    }
    writeResults(ctx, 'features', started, lines.join('\n'), {
      started: started.toISOString(),
      command: ctx.command,
      node: process.version,
      timing: t,
      limitRate: limit,
      costRuns,
      hitRuns,
      checks,
    });
  } finally {
    await Promise.all([...procs.values()].map((p) => p.stop()));
  }
}

export const featuresSuite: Suite = {
  name: 'features',
  title: 'feature costs (rate limiting, auth, dashboard, 2026-07-28 stateless requests) and rate limit hit',
  targets: targetsFor(5000).map(({ key, label }) => ({ key, label })),
  run,
};
