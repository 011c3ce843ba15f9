/**
 * Handshake rate: how many sessions per second a server opens *and
 * initializes*, one after another on each of `parallel` openers. Each
 * connection: TCP connect, WebSocket upgrade (with the credential, when
 * given), `initialize` answered, `notifications/initialized` sent, then a
 * close (1000) that the opener does not wait for before its next connection
 * (the server, which closes TCP first, keeps the TIME_WAIT). The load
 * generator in src/loadtest measures requests on open sessions; this measures
 * the door.
 *
 * Counted: connections whose initialize answer arrived inside the measured
 * window (after the warm-up), per second of that window; latency from the
 * start of the TCP connect to the initialize answer (HdrHistogram). Source
 * addresses rotate over 127.0.0.2–127.0.0.251 so the run never runs short
 * of ephemeral ports.
 *
 * Standalone:  node dist-bench/bench/handshake.js ws://127.0.0.1:8080/ws [--parallel 20] [--duration 5]
 *              [--warmup 1] [-H "Authorization: Bearer …"]
 * The `handshake` suite of `npm run bench` (bench/suites/handshake.ts) runs it
 * against servers with no auth, a static token, JWT HS256 and JWT ES256.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { newLatencyHistogram } from '../src/loadtest/load-engine.js';
import { parseHeaders } from '../src/loadtest/options.js';

/** What to run. */
export interface HandshakeOptions {
  url: string;
  /** Openers working at once. */
  parallel: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** Headers of connection number `i` (e.g. one of several bearer tokens). */
  headers?: (i: number) => Record<string, string>;
  /** One connection's budget, connect to initialize answer. Default 10,000 ms. */
  timeoutMs?: number;
}

/** What a run measured. */
export interface HandshakeResult {
  /** Connections opened and initialized inside the window. */
  completed: number;
  /** Connections that failed (refused, closed, timed out) inside the window. */
  failed: number;
  /** completed ÷ window. */
  rate: number;
  windowSeconds: number;
  /** Connect → initialize answered, of connections started inside the window. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** CPU of this whole process over the window, % of one core. */
  generatorCpuPercent: number;
  firstError: string | undefined;
}

/** Called when the measured window begins and ends (e.g. to read a server's CPU). */
export interface HandshakeHooks {
  onMeasureStart?(): void | Promise<void>;
  onMeasureEnd?(): void | Promise<void>;
}

const INITIALIZE =
  '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcp-ws-bench-handshake","version":"0.1.0"}}}';
const INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}';
const SOURCES = 250;
const SEND = { binary: false, compress: false, fin: true } as const;

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** One connection: resolves when initialize is answered (the socket is then closing). */
function openInitClose(url: string, localAddress: string, headers: Record<string, string>, timeoutMs: number, closing: Set<WebSocket>): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['mcp'], {
      headers,
      localAddress,
      perMessageDeflate: false,
      skipUTF8Validation: true,
      generateMask: zeroMask,
      handshakeTimeout: timeoutMs,
      followRedirects: false,
    });
    let settled = false;
    const timer = setTimeout(() => fail('initialize got no answer in time'), timeoutMs);
    function fail(why: string): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      reject(new Error(why));
    }
    ws.once('unexpected-response', (_req, res) => fail(`HTTP ${res.statusCode ?? '?'} on upgrade`));
    ws.once('error', (err) => fail(err.message));
    ws.once('close', (code) => fail(`closed during initialize (${code})`));
    ws.once('open', () => ws.send(INITIALIZE, SEND));
    ws.once('message', (data: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => {});
      if (!data.includes('"result"')) {
        ws.terminate();
        reject(new Error(`initialize answered with ${data.toString().slice(0, 120)}`));
        return;
      }
      ws.send(INITIALIZED, SEND);
      closing.add(ws);
      ws.once('close', () => closing.delete(ws));
      ws.close(1000);
      resolve();
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs the openers for warm-up + duration; resolves with what the window measured. */
export async function runHandshakes(o: HandshakeOptions, hooks: HandshakeHooks = {}): Promise<HandshakeResult> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const hist = newLatencyHistogram();
  const closing = new Set<WebSocket>();
  let measuring = false;
  let startedMeasuring = false;
  let completed = 0;
  let failed = 0;
  let firstError: string | undefined;
  let seq = 0;
  const t00 = performance.now();
  const stopAt = t00 + (o.warmupSeconds + o.durationSeconds) * 1000 + 5000; // hard bound; the window ends first
  let stop = false;

  const opener = async (): Promise<void> => {
    while (!stop && performance.now() < stopAt) {
      const i = seq++;
      const t0 = performance.now();
      const inWindow = measuring;
      try {
        await openInitClose(o.url, `127.0.0.${2 + (i % SOURCES)}`, o.headers?.(i) ?? {}, timeoutMs, closing);
        if (measuring) completed++;
        if (inWindow && measuring) hist.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      } catch (err) {
        if (measuring) failed++;
        firstError ??= (err as Error).message;
        await sleep(10); // a refusing server is not hammered in a tight loop
      }
    }
  };

  const openers = Array.from({ length: o.parallel }, opener);
  await sleep(o.warmupSeconds * 1000);
  await hooks.onMeasureStart?.();
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  measuring = true;
  startedMeasuring = true;
  await sleep(o.durationSeconds * 1000);
  measuring = false;
  const w1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  await hooks.onMeasureEnd?.();
  stop = true;
  await Promise.all(openers);
  // Let the last close handshakes finish (bounded), then drop what is left.
  for (let k = 0; k < 50 && closing.size > 0; k++) await sleep(100);
  for (const ws of closing) ws.terminate();
  const windowSeconds = Math.max(1e-3, (w1 - w0) / 1000);
  const ms = (p: number): number => Math.round(hist.getValueAtPercentile(p)) / 1000;
  return {
    completed,
    failed,
    rate: startedMeasuring ? Math.round(completed / windowSeconds) : 0,
    windowSeconds: Math.round(windowSeconds * 1000) / 1000,
    latencyMs: { p50: ms(50), p90: ms(90), p99: ms(99), max: Math.round(hist.maxValue) / 1000 },
    generatorCpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / ((w1 - w0) || 1)) * 1000) / 10,
    firstError,
  };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      parallel: { type: 'string', default: '20' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      header: { type: 'string', short: 'H', multiple: true },
    },
  });
  const url = positionals[0];
  const num = (v: string, name: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} should be a positive number, got "${v}"`);
    return n;
  };
  if (url === undefined || !/^wss?:\/\//.test(url)) throw new Error('usage: handshake.js ws://host:port/path [--parallel N] [--duration S] [--warmup S] [-H "Name: value"]');
  const headers = parseHeaders(values.header ?? []);
  const r = await runHandshakes({
    url,
    parallel: Math.round(num(values.parallel, 'parallel')),
    durationSeconds: num(values.duration, 'duration'),
    warmupSeconds: Number(values.warmup) >= 0 ? Number(values.warmup) : 1,
    headers: () => headers,
  });
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench/handshake: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
