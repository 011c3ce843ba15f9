/**
 * What the named suites of `npm run bench -- --suite NAME` share: their
 * options, one measured load run against a target, the report's opening
 * paragraph, and writing bench/results/<suite>-<date>.md and .json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { relative } from 'node:path';
import { resolveBenchOptions, type BenchInput } from '../../src/loadtest/options.js';
import { runBench, type BenchResult } from '../../src/loadtest/runner.js';
import { fmt } from './markdown.js';

/** A target a suite can start; `key` is what --targets names. */
export interface SuiteTarget {
  key: string;
  label: string;
}

/** Options every suite gets (from bench/e2e.ts's command line). */
export interface SuiteArgs {
  quick: boolean;
  /** Explicit --duration / --warmup / --rounds, when given; a suite has its own defaults. */
  duration: number | undefined;
  warmup: number | undefined;
  rounds: number | undefined;
  workers: number;
  /** Target keys of this suite to run, in the suite's order. */
  targets: string[];
  /** --limit-rate: the configured rate of the limit-hit runs (features suite). */
  limitRate: number;
  /** --parallel: openers of the handshake suite. */
  parallel: number;
}

/** Where and how a suite reports. */
export interface SuiteContext {
  /** Repository root, with a trailing slash. */
  root: string;
  resultsDir: string;
  /** The command line as typed (`npm run bench -- …`). */
  command: string;
}

/** A suite: its targets (default set = all) and how to run them. */
export interface Suite {
  name: string;
  title: string;
  targets: SuiteTarget[];
  run(args: SuiteArgs, ctx: SuiteContext): Promise<void>;
}

/** Rounds, duration and warm-up of a suite: explicit values, else quick or full defaults. */
export function timing(
  args: SuiteArgs,
  full: { rounds: number; duration: number; warmup: number },
  quick: { rounds: number; duration: number; warmup: number } = { rounds: 1, duration: 1.5, warmup: 0.5 },
): { rounds: number; duration: number; warmup: number } {
  const d = args.quick ? quick : full;
  return { rounds: args.rounds ?? d.rounds, duration: args.duration ?? d.duration, warmup: args.warmup ?? d.warmup };
}

/** Something whose CPU can be read over a window (CpuWindow, TreeCpuWindow). */
export interface Window {
  begin(): void | Promise<void>;
  end(): void | Promise<void>;
}

/**
 * One load run against `url`, with `windows` opened and closed around the
 * measured window; `onProgress` gets the answers so far and the seconds since
 * the load started (warm-up included), about five times a second.
 */
export function measureRun(
  url: string,
  input: BenchInput,
  windows: Window[],
  onProgress?: (answered: number, elapsedSeconds: number) => void,
): Promise<BenchResult> {
  const options = resolveBenchOptions(url, { timeoutMs: 10_000, ...input });
  return runBench(options, {
    ...(onProgress ? { onProgress } : {}),
    onMeasureStart: async () => {
      for (const w of windows) await w.begin();
    },
    onMeasureEnd: async () => {
      for (const w of windows) await w.end();
    },
  });
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The loadavg triple, formatted. */
export function loadAverage(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
}

/** "Node v20…, 2 × CPU model". */
export function nodeInfo(): string {
  return `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`;
}

/** File-name stamp of a date: 2026-11-25T21-03-10Z. */
export function stamp(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

/** Prints the Markdown on stdout and writes it and the JSON to bench/results/<prefix>-<date>. */
export function writeResults(ctx: SuiteContext, prefix: string, started: Date, md: string, json: unknown): void {
  process.stdout.write(`\n${md}\n`);
  mkdirSync(ctx.resultsDir, { recursive: true });
  const base = `${ctx.resultsDir}/${prefix}-${stamp(started)}`;
  writeFileSync(`${base}.md`, `${md}\n`);
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  process.stderr.write(`bench: wrote ${relative(process.cwd(), base)}.md and .json\n`);
}

/** One progress line on stderr. */
export function progress(label: string, r: BenchResult, serverCpu: number, extra = ''): void {
  process.stderr.write(
    `  ${label.padEnd(34)} ${fmt(r.throughput).padStart(8)} ok/s  p99 ${fmt(r.latencyMs.p99)} ms  server ${fmt(serverCpu, 0)} %  generator ${fmt(r.generatorCpuPercent, 0)} %` +
      `${r.requests.error + r.requests.timeout > 0 ? `  errors ${r.requests.error} timeouts ${r.requests.timeout}` : ''}${extra}${r.firstError ? `  (${r.firstError})` : ''}\n`,
  );
}

/** req/s per server core: throughput ÷ the server's CPU share (0 when no CPU was seen). */
export function perCore(throughput: number, serverCpuPercent: number): number {
  return serverCpuPercent > 0 ? throughput / (serverCpuPercent / 100) : 0;
}
