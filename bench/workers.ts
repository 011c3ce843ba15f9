/**
 * Throughput of `mcp-ws serve --workers 2` against one worker, side by side
 * in one run:
 *
 *   npm run bench:workers                       3 rounds of 5 s per shape
 *   npm run bench:workers -- --rounds 1 --duration 2 --warmup 1 --out DIR
 *
 * Both servers run from bin/mcp-ws.js (the demo router, every default
 * feature on), started once; each measured run is a fresh generator process
 * (bench/workers-generator.ts: src/loadtest, closed loop, `tools/call echo`
 * with a 200 B argument), so the generator's CPU is never the server's.
 * Rounds alternate which server goes first. For each run the server's CPU
 * is the sum over its processes (primary and workers) from /proc over the
 * measured window; CPU per request = that ÷ answered requests, the figure
 * that carries over to a machine with more cores, while req/s here is
 * bounded by the 2 cores the generator shares with the server.
 *
 * Results: bench/results/workers-<date>.md and .json (or --out DIR), with
 * the load average at the start and the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnNode } from './lib/target-process.js';
import { fmt, markdownTable } from './lib/markdown.js';
import type { GeneratorCommand, GeneratorReport } from './workers-generator.js';
import type { BenchInput } from '../src/loadtest/options.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = `${ROOT}bin/mcp-ws.js`;

class UsageError extends Error {}

const SHAPES: Array<{ label: string; input: BenchInput }> = [
  { label: '100 connections × 1 in flight', input: { connections: 100, concurrency: 1, size: 200 } },
  { label: '10 connections × 32 in flight', input: { connections: 10, concurrency: 32, size: 200 } },
];

interface Served {
  workers: number;
  child: ChildProcess;
  url: string;
}

function startServer(workers: number): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--workers', String(workers), '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err = (err + d).slice(-2000)));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the ${workers}-worker server printed no ready line within 180 s: ${err.trim()}`));
    }, 180_000);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      out += d;
      const m = /(ws:\/\/\S+)/.exec(out);
      if (m && out.includes('\n')) {
        clearTimeout(timer);
        resolve({ workers, child, url: m[1]! });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the ${workers}-worker server exited (${code}) before it was ready: ${err.trim()}`));
    });
  });
}

async function stop(s: Served): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => s.child.once('exit', () => r()));
  s.child.kill('SIGTERM');
  const t = setTimeout(() => s.child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(t);
}

function generate(cmd: GeneratorCommand, timeoutMs: number): Promise<Extract<GeneratorReport, { type: 'done' }>> {
  const child = spawnNode(new URL('./workers-generator.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`a generator run did not finish within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    child.once('message', (m: GeneratorReport) => {
      clearTimeout(timer);
      if (m.type === 'done') resolve(m);
      else reject(new Error(`a generator run failed: ${m.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`a generator exited (${code}) before reporting`));
    });
    child.send(cmd);
  });
}

interface Run {
  shape: string;
  workers: number;
  round: number;
  throughput: number;
  p50: number;
  p99: number;
  answered: number;
  errors: number;
  serverCpuPercent: number;
  serverCpuUsPerRequest: number;
  generatorCpuPercent: number;
  serverProcesses: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function parse(): { rounds: number; duration: number; warmup: number; out: string } {
  let parsed;
  try {
    parsed = parseArgs({
      options: { rounds: { type: 'string', default: '3' }, duration: { type: 'string', default: '5' }, warmup: { type: 'string', default: '2' }, out: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  const num = (name: string, raw: string, min: number, max: number, integer = false): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new UsageError(`--${name} should be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };
  return {
    rounds: num('rounds', v.rounds, 1, 20, true),
    duration: num('duration', v.duration, 0.5, 300),
    warmup: num('warmup', v.warmup, 0, 60),
    out: v.out ?? `${ROOT}bench/results`,
  };
}

async function main(): Promise<void> {
  const a = parse();
  const started = new Date();
  const load0 = loadavg();
  const command = `npm run bench:workers -- ${process.argv.slice(2).join(' ')}`.trim();
  process.stderr.write(`workers: 1 vs 2 workers, ${a.rounds} round(s) of ${a.duration} s after ${a.warmup} s warm-up; load average ${load0.map((x) => x.toFixed(2)).join(', ')}\n`);
  const servers: Served[] = [];
  const runs: Run[] = [];
  try {
    servers.push(await startServer(1), await startServer(2));
    for (let round = 1; round <= a.rounds; round++) {
      for (const shape of SHAPES) {
        const order = round % 2 === 1 ? servers : [...servers].reverse();
        for (const s of order) {
          const r = await generate(
            { url: s.url, serverPid: s.child.pid!, input: { ...shape.input, duration: a.duration, warmup: a.warmup } },
            (a.duration + a.warmup + 60) * 1000,
          );
          const window = r.result.windowSeconds;
          const answered = r.result.requests.ok;
          const run: Run = {
            shape: shape.label,
            workers: s.workers,
            round,
            throughput: r.result.throughput,
            p50: r.result.latencyMs.p50,
            p99: r.result.latencyMs.p99,
            answered,
            errors: r.result.requests.error + r.result.requests.timeout,
            serverCpuPercent: (r.serverCpuSeconds / window) * 100,
            serverCpuUsPerRequest: answered > 0 ? (r.serverCpuSeconds * 1e6) / answered : NaN,
            generatorCpuPercent: r.result.generatorCpuPercent,
            serverProcesses: r.serverProcesses,
          };
          runs.push(run);
          process.stderr.write(
            `  round ${round} ${shape.label}, ${s.workers} worker(s): ${fmt(run.throughput)} req/s p99 ${fmt(run.p99)} ms server ${fmt(run.serverCpuPercent, 0)} % = ${fmt(run.serverCpuUsPerRequest, 1)} µs/request, generator ${fmt(run.generatorCpuPercent, 0)} %\n`,
          );
        }
      }
    }
  } finally {
    for (const s of servers) await stop(s);
  }
  const load1 = loadavg();
  const rows: Array<Array<string | number>> = [];
  for (const shape of SHAPES) {
    const of = (w: number): Run[] => runs.filter((r) => r.shape === shape.label && r.workers === w);
    const one = of(1);
    const two = of(2);
    for (const [w, list] of [[1, one], [2, two]] as const) {
      const tput = median(list.map((r) => r.throughput));
      const us = median(list.map((r) => r.serverCpuUsPerRequest));
      rows.push([
        shape.label,
        w,
        fmt(tput),
        fmt(Math.max(...list.map((r) => r.throughput))),
        fmt(median(list.map((r) => r.p50))),
        fmt(median(list.map((r) => r.p99))),
        fmt(median(list.map((r) => r.serverCpuPercent)), 0),
        fmt(us, 1),
        fmt(1e6 / us),
        fmt(median(list.map((r) => r.generatorCpuPercent)), 0),
        w === 2 ? fmt(tput / median(one.map((r) => r.throughput))) : '—',
        w === 2 ? fmt(us / median(one.map((r) => r.serverCpuUsPerRequest))) : '—',
        list.reduce((n, r) => n + r.errors, 0),
      ]);
    }
  }
  const lt = (l: number[]): string => l.map((x) => x.toFixed(2)).join(', ');
  const md = [
    `# mcp-ws serve: 2 workers vs 1, ${started.toISOString()}`,
    '',
    `Command: \`${command}\``,
    '',
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}. Loopback. Servers: \`mcp-ws serve --workers 1\` (one process) and \`--workers 2\` ` +
      '(a primary and two workers sharing the port), demo router, every default feature on. Each run is a new generator process (src/loadtest, closed loop, ' +
      '`tools/call echo` with a 200 B argument) on the same machine. ' +
      `${a.rounds} round(s) of ${a.duration} s measured after ${a.warmup} s warm-up, alternating which server goes first; medians of the rounds. ` +
      'Server CPU is the sum over the server\'s processes from /proc over the measured window, % of one core; CPU per request = server CPU time ÷ answered requests. ' +
      `Load average (1, 5, 15 min) at the start: ${lt(load0)}; at the end: ${lt(load1)}.`,
    '',
    markdownTable(
      ['load', 'workers', 'req/s (median)', 'req/s (best)', 'p50 ms', 'p99 ms', 'server CPU %', 'server CPU µs per request', 'req/s per server core', 'generator CPU %', 'req/s × 1 worker', 'CPU per request × 1 worker', 'errors+timeouts'],
      rows,
      [false, true, true, true, true, true, true, true, true, true, true, true, true],
    ),
    '',
    'On 2 cores the generator takes a core\'s share, so 2 workers cannot double req/s here; CPU per request (and req/s per server core) is what carries over to a machine with more cores.',
  ].join('\n');
  process.stdout.write(`\n${md}\n`);
  mkdirSync(a.out, { recursive: true });
  const base = `${a.out}/workers-${started.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}`;
  writeFileSync(`${base}.md`, `${md}\n`);
  writeFileSync(`${base}.json`, `${JSON.stringify({ started: started.toISOString(), command, node: process.version, cpus: cpus().length, loadavg: { start: load0, end: load1 }, args: a, runs }, null, 2)}\n`);
  process.stderr.write(`workers: wrote ${relative(process.cwd(), base)}.md and .json\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`workers: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
