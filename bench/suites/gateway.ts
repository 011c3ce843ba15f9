/**
 * `npm run bench -- --suite gateway`: mcp-ws gateway against supergateway,
 * both serving the official server-everything (stdio) over WebSocket, driven
 * by the same generator with the same loads (tools/call `echo`, ~200 B):
 *
 *   gateway       bench/targets/gateway.ts: McpWsGateway + McpWsServer as
 *                 `mcp-ws gateway --upstream "node <server-everything> stdio"
 *                 --min-connections 4` builds them; one upstream child per
 *                 client session
 *   gateway-shared  the same with `--sharing shared`: every client
 *                 multiplexed over a few upstream children the gateway
 *                 initializes itself (src/gateway/shared.ts)
 *   supergateway  `supergateway --stdio "node <server-everything> stdio"
 *                 --outputTransport ws --port N --logLevel none` (the npm
 *                 package, run as shipped, with a preload that makes its
 *                 listen() bind 127.0.0.1: it has no bind-address option); one
 *                 child for every client, ids rewritten to "<client>:<id>"
 *
 * Loads: 1, 4 and 8 client sessions × 4 requests in flight each, closed
 * loop, measured in steady state: a long warm-up (default 30 s) on the same
 * sessions before the measured window, and the answers per second in each
 * sixth of that warm-up reported too. The warm-up matters here: the mcp-ws
 * gateway gives every client session an upstream process of its own, whose
 * JIT starts cold (and on a busy 2-core machine eight cold children take tens
 * of seconds to get fast), while supergateway's one child warms once for all
 * clients and stays warm from run to run. CPU is each server's whole process tree (the server and its
 * upstream children, read from /proc), since the children do most of the
 * work. Between runs the mcp-ws gateway is left to settle (pool back to its
 * warm minimum, no session open) before every run, whichever server that run
 * measures, so a previous run's child churn takes no CPU from the next.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildRequestTemplate } from '../../src/loadtest/request-template.js';
import type { BenchResult } from '../../src/loadtest/runner.js';
import { ExternalTarget, freePort } from '../lib/external-process.js';
import { fmt, markdownTable } from '../lib/markdown.js';
import { processTree, signalProcesses, survivors, TreeCpuWindow, type ProcStat } from '../lib/proc-cpu.js';
import { loadAverage, measureRun, nodeInfo, perCore, progress, timing, writeResults, type Suite, type SuiteArgs, type SuiteContext } from '../lib/suite.js';
import { TargetProcess } from '../lib/target-process.js';

const EVERYTHING_REL = 'node_modules/@modelcontextprotocol/server-everything/dist/index.js';
const SUPERGATEWAY_REL = 'node_modules/supergateway/dist/index.js';
const MIN_CONNECTIONS = 4;
const IN_FLIGHT = 4;
const SIZE = 200;

const TARGETS = [
  { key: 'gateway', label: 'mcp-ws gateway' },
  { key: 'gateway-shared', label: 'mcp-ws gateway, shared' },
  { key: 'supergateway', label: 'supergateway' },
];

const LOADS = [1, 4, 8].map((c) => ({ key: `c${c}x${IN_FLIGHT}`, label: `${c} client${c === 1 ? '' : 's'} × ${IN_FLIGHT} in flight`, connections: c }));

/** tools/call echo {message} padded so the whole request is about SIZE bytes. */
function echoParams(): Record<string, unknown> {
  const bytes = (m: string): number => buildRequestTemplate('tools/call', { name: 'echo', arguments: { message: m } }, 0).approxBytes;
  const pad = Math.max(0, SIZE - bytes(''));
  return { name: 'echo', arguments: { message: 'x'.repeat(pad) } };
}

interface Server {
  key: string;
  label: string;
  url: string;
  pid: number;
  /** Waits until the server is back at rest between runs. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

interface GwRun {
  target: string;
  load: string;
  round: number;
  throughput: number;
  p50: number;
  p99: number;
  p999: number;
  /** Whole tree (server + children), % of one core. */
  serverCpu: number;
  /** The server process alone. */
  rootCpu: number;
  processes: number;
  generatorCpu: number;
  ok: number;
  errors: number;
  timeouts: number;
  lost: number;
  /** Answers per second in each slice of the warm-up. */
  warmup: number[];
  firstError?: string;
}

/** Answers per second in each of `n` equal slices of the warm-up, from (seconds, answers so far) samples. */
function warmupSlices(samples: Array<[number, number]>, warmup: number, n: number): number[] {
  const at = (sec: number): [number, number] => {
    let best: [number, number] = [0, 0];
    for (const s of samples) if (s[0] <= sec && s[0] >= best[0]) best = s;
    return best;
  };
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const a = at((warmup * k) / n);
    const b = at((warmup * (k + 1)) / n);
    out.push(b[0] > a[0] ? (b[1] - a[1]) / (b[0] - a[0]) : 0);
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Stops a server, then SIGKILLs anything of its process tree (listed before the stop) still alive. */
async function stopTree(pid: number, stop: () => Promise<void>): Promise<void> {
  const tree: ProcStat[] = pid > 0 ? processTree(pid) : [];
  await stop();
  for (let i = 0; i < 40 && survivors(tree).length > 0; i++) await sleep(50);
  signalProcesses(survivors(tree), 'SIGKILL');
}

async function startGateway(shared: boolean): Promise<Server> {
  const key = shared ? 'gateway-shared' : 'gateway';
  const p = await TargetProcess.start(key, new URL('../targets/gateway.js', import.meta.url), {
    env: { MIN_CONNECTIONS: String(MIN_CONNECTIONS), SHARING: shared ? 'shared' : 'per-client' },
    readyTimeoutMs: 30_000,
  });
  return {
    key,
    label: TARGETS.find((x) => x.key === key)!.label,
    url: p.url,
    pid: p.pid,
    settle: async () => {
      for (let i = 0; i < 150; i++) {
        const s = await p.stats();
        const opening = (s.poolSize ?? 0) - (s.idle ?? 0) - (s.leased ?? 0);
        if ((s.sessions ?? 0) === 0 && (s.leased ?? 0) === 0 && opening <= 0 && (s.idle ?? 0) >= MIN_CONNECTIONS) return;
        await sleep(100);
      }
    },
    stop: () => stopTree(p.pid, () => p.stop()),
  };
}

async function startSupergateway(root: string): Promise<Server> {
  const port = await freePort();
  const shim = pathToFileURL(fileURLToPath(new URL('../targets/loopback-only.js', import.meta.url))).href;
  const stdio = `"${process.execPath}" ${EVERYTHING_REL} stdio`;
  const t = await ExternalTarget.start(
    'supergateway',
    process.execPath,
    ['--import', shim, SUPERGATEWAY_REL, '--stdio', stdio, '--outputTransport', 'ws', '--port', String(port), '--messagePath', '/message', '--logLevel', 'none'],
    port,
    `ws://127.0.0.1:${port}/message`,
    { cwd: root },
  );
  return {
    key: 'supergateway',
    label: 'supergateway',
    url: t.url,
    pid: t.pid,
    settle: () => sleep(200),
    stop: () => stopTree(t.pid, () => t.stop()),
  };
}

async function run(args: SuiteArgs, ctx: SuiteContext): Promise<void> {
  const t = timing(args, { rounds: 2, duration: 5, warmup: 30 }, { rounds: 1, duration: 1.5, warmup: 3 });
  const SLICES = 6;
  const keys = TARGETS.filter((x) => args.targets.includes(x.key)).map((x) => x.key);
  const params = echoParams();
  const requestBytes = buildRequestTemplate('tools/call', params, 0).approxBytes;
  const started = new Date();
  const load0 = loadAverage();
  process.stderr.write(`gateway: ${keys.join(', ')}; ${t.rounds} round(s) of ${t.duration} s after ${t.warmup} s warm-up\n`);
  const servers: Server[] = [];
  const runs: GwRun[] = [];
  try {
    for (const k of keys) servers.push(k === 'supergateway' ? await startSupergateway(ctx.root) : await startGateway(k === 'gateway-shared'));
    for (const load of LOADS) {
      process.stderr.write(`${load.label}\n`);
      for (let round = 1; round <= t.rounds; round++) {
        if (t.rounds > 1) process.stderr.write(` round ${round}/${t.rounds}\n`);
        for (let j = 0; j < servers.length; j++) {
          const s = servers[(j + round - 1) % servers.length]!; // each round starts one server further along
          // Every server at rest, not only this one: child churn elsewhere would take CPU from this run.
          for (const other of servers) await other.settle();
          const cpu = new TreeCpuWindow(s.pid);
          const samples: Array<[number, number]> = [];
          const r: BenchResult = await measureRun(
            s.url,
            { duration: t.duration, warmup: t.warmup, workers: args.workers, connections: load.connections, concurrency: IN_FLIGHT, params, timeoutMs: 10_000 },
            [cpu],
            (answered, elapsed) => samples.push([elapsed, answered]),
          );
          const warmup = warmupSlices(samples, t.warmup, SLICES);
          progress(s.label, r, cpu.percent, `  (server process alone ${fmt(cpu.rootPercent, 0)} %, ${cpu.processes} processes; warm-up ${warmup.map((x) => fmt(x)).join(' ')})`);
          runs.push({
            target: s.key,
            load: load.key,
            round,
            throughput: r.throughput,
            p50: r.latencyMs.p50,
            p99: r.latencyMs.p99,
            p999: r.latencyMs.p999,
            serverCpu: cpu.percent,
            rootCpu: cpu.rootPercent,
            processes: cpu.processes,
            generatorCpu: r.generatorCpuPercent,
            ok: r.requests.ok,
            errors: r.requests.error + r.connections.failed,
            timeouts: r.requests.timeout,
            lost: r.connections.lost,
            warmup,
            ...(r.firstError !== undefined ? { firstError: r.firstError } : {}),
          });
        }
      }
    }

    // ---------------------------------------------------------- report
    const lines: string[] = [];
    lines.push(`# mcp-ws gateway vs supergateway, ${started.toISOString()}`, '');
    lines.push(`Command: \`${ctx.command}\``, '');
    lines.push(
      `${nodeInfo()}. Loopback. Upstream: \`node ${EVERYTHING_REL} stdio\` (server-everything), tool \`echo\`, ${requestBytes} B requests, closed loop. ` +
        `mcp-ws gateway as \`mcp-ws gateway --upstream "node ${EVERYTHING_REL} stdio" --min-connections ${MIN_CONNECTIONS}\` builds it (library API, bench/targets/gateway.ts), and \`mcp-ws gateway, shared\` with \`--sharing shared\` added; ` +
        `supergateway as \`npx supergateway --stdio "node ${EVERYTHING_REL} stdio" --outputTransport ws --port N --logLevel none\`. ` +
        `One generator (\`src/loadtest\`, ${args.workers} worker thread(s)); ${t.duration} s measured after ${t.warmup} s warm-up per run, ${t.rounds} round(s) interleaving the servers, best round shown. ` +
        `Server CPU is the whole process tree (server + upstream children, from /proc), % of one core; the machine has 2. ` +
        `Load average (1, 5, 15 min) at the start: ${load0}; at the end: ${loadAverage()}.`,
      '',
    );
    const checks: Array<[string, string, string, string]> = [];
    for (const load of LOADS) {
      const of = (k: string): GwRun[] => runs.filter((r) => r.target === k && r.load === load.key);
      const best = (k: string): GwRun | undefined => of(k).reduce<GwRun | undefined>((b, r) => (b === undefined || r.throughput > b.throughput ? r : b), undefined);
      const bestCore = (k: string): number => Math.max(0, ...of(k).map((r) => perCore(r.throughput, r.serverCpu)));
      const sg = best('supergateway');
      const sgCore = bestCore('supergateway');
      lines.push(
        `## Steady state: ${load.label}`,
        '',
        markdownTable(
          [
            'server',
            'req/s',
            'p50 ms',
            'p99 ms',
            'p99.9 ms',
            'server CPU % (tree)',
            'server process alone %',
            'server process µs CPU per request',
            'processes',
            'generator CPU %',
            'req/s per server core (best round)',
            '× supergateway',
            '× supergateway per core',
            'errors+timeouts (all rounds)',
          ],
          keys.map((k) => {
            const b = best(k)!;
            const core = bestCore(k);
            return [
              TARGETS.find((x) => x.key === k)!.label,
              fmt(b.throughput),
              fmt(b.p50),
              fmt(b.p99),
              fmt(b.p999),
              fmt(b.serverCpu, 0),
              fmt(b.rootCpu, 0),
              b.throughput > 0 ? fmt((b.rootCpu / 100) * 1e6 / b.throughput, 1) : '—',
              b.processes,
              fmt(b.generatorCpu, 0),
              fmt(core),
              sg && sg.throughput > 0 ? fmt(b.throughput / sg.throughput) : '—',
              sgCore > 0 ? fmt(core / sgCore) : '—',
              of(k).reduce((n, r) => n + r.errors + r.timeouts + r.lost, 0),
            ];
          }),
          [false, true, true, true, true, true, true, true, true, true, true, true, true, true],
        ),
        '',
        `Warm-up of the same runs: answers per second in each ${fmt(t.warmup / SLICES, 1)} s of the ${t.warmup} s before the window.`,
        '',
        markdownTable(
          ['server', ...Array.from({ length: SLICES }, (_, k) => `${fmt((t.warmup * k) / SLICES, 1)}–${fmt((t.warmup * (k + 1)) / SLICES, 1)} s`), 'window'],
          keys.map((k) => {
            const b = best(k)!;
            return [TARGETS.find((x) => x.key === k)!.label, ...b.warmup.map((x) => fmt(x)), fmt(b.throughput)];
          }),
          [false, ...Array.from({ length: SLICES }, () => true), true],
        ),
        '',
      );
      for (const k of ['gateway', 'gateway-shared']) {
        const gw = best(k);
        if (!gw || !sg || load.connections < 4) continue;
        const label = TARGETS.find((x) => x.key === k)!.label;
        const x = sg.throughput > 0 ? gw.throughput / sg.throughput : Infinity;
        checks.push([`${label} ÷ supergateway, ${load.label}`, fmt(x), '≥ 2', x >= 2 ? 'yes' : 'no']);
        const gc = bestCore(k);
        if (sgCore > 0 && gc > 0) checks.push([`same, per server core (tree CPU), ${load.label}`, fmt(gc / sgCore), '(≥ 2)', gc / sgCore >= 2 ? 'yes' : 'no']);
      }
    }
    const errs = [...new Set(runs.filter((r) => r.firstError !== undefined).map((r) => `${r.target}: ${r.firstError}`))];
    if (errs.length > 0) lines.push(`First errors seen: ${errs.map((e) => `\`${e}\``).join(', ')}.`, '');
    if (checks.length > 0) lines.push('## Against the targets', '', markdownTable(['check', 'measured', 'target', 'met'], checks), '');
    writeResults(ctx, 'gateway', started, lines.join('\n'), {
      started: started.toISOString(),
      command: ctx.command,
      node: process.version,
      timing: t,
      requestBytes,
      minConnections: MIN_CONNECTIONS,
      inFlight: IN_FLIGHT,
      runs,
      checks,
    });
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

export const gatewaySuite: Suite = {
  name: 'gateway',
  title: 'mcp-ws gateway vs supergateway, server-everything over stdio',
  targets: TARGETS,
  run,
};
