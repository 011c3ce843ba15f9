/**
 * LLM streaming relay: what relaying a provider's token stream costs the
 * server, against a local fake provider speaking the Chat Completions SSE
 * format (the real `openai` package reads it, as in production).
 *
 *   npm run bench:llm [-- --streams 1000 --rate 50 --low-rate 10 --seconds 10 [--cpu-prof]]
 *
 * Both ways of reading an openai-compatible stream run in the same bench,
 * side by side: 'sdk' (the `openai` package: fetch, WHATWG streams, its
 * SSE decoder; the path before the lean one existed) and 'lean' (undici's
 * request and our SSE parser, the default). Each gets a fresh server
 * process. --cpu-prof writes each server's V8 profile to
 * bench/results/profiles/ (read it with profile-top.js).
 *
 * Three processes' worth of roles, two processes: the server
 * (bench/llm-server.ts, llm_generate with the openai-compatible provider)
 * in a child process, so its CPU time and RSS are its own; the fake
 * provider and the WebSocket clients in this one. Each delta carries its
 * sequence number and the time the fake provider wrote it, so a client
 * checks order and measures the latency from the provider's write to its
 * own receipt (an upper bound on what the relay adds: it includes loopback,
 * the SDK's SSE parsing and this process's own event-loop delay).
 *
 * Phase 1, overhead: 20 streams of 10,000 deltas each, as fast as the
 *   relay takes them: server CPU µs per delta (undici + SDK parse + relay +
 *   WebSocket send).
 * Phase 2, concurrency: `streams` streams at `rate` deltas/s for `seconds`:
 *   every delta delivered in order, latency p50/p99/max, server CPU and RSS.
 *
 * Results: bench/results/llm-<date>.md and .json (both paths), and
 * llm-<date>-before.md (the sdk path's rows alone).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { fmt, markdownTable } from './lib/markdown.js';
import { RequestContext, type ContextSession } from '../src/router/context.js';
import { relayStream } from '../src/router/stream.js';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '50' },
    'low-rate': { type: 'string', default: '10' },
    seconds: { type: 'string', default: '10' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const STREAMS = Number(values.streams);
const RATE = Number(values.rate);
const LOW_RATE = Number(values['low-rate']);
const SECONDS = Number(values.seconds);
const now = (): number => performance.timeOrigin + performance.now();

// ------------------------------------------------------------ fake provider

interface Stream {
  res: ServerResponse;
  seq: number;
  total: number;
}
const paced = new Set<Stream>();
let mode: { kind: 'flood' | 'paced'; total: number } = { kind: 'paced', total: 0 };

const chunk = (content: string): string =>
  `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"bench","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]}\n\n`;
const END =
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"bench","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n';

function finish(s: Stream): void {
  paced.delete(s);
  s.res.end(END);
}

const provider = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const s: Stream = { res, seq: 0, total: mode.total };
    if (mode.kind === 'paced') {
      paced.add(s);
      return;
    }
    void (async () => {
      while (s.seq < s.total && !res.destroyed) {
        if (!res.write(chunk(`${s.seq++}@${now().toFixed(3)} `))) await new Promise((r) => res.once('drain', r));
      }
      finish(s);
    })();
  });
});
// One timer for every paced stream: a delta each per tick.
let pacer: NodeJS.Timeout | undefined;
function startPacer(rate: number): void {
  const interval = 1000 / rate;
  pacer = setInterval(() => {
    for (const s of paced) {
      s.res.write(chunk(`${s.seq++}@${now().toFixed(3)} `));
      if (s.seq >= s.total) finish(s);
    }
  }, interval);
}

// ------------------------------------------------------------ clients

interface ClientResult {
  deltas: number;
  outOfOrder: number;
  latencies: number[];
  done: boolean;
}

function runClient(url: string, expected: number, sampleEvery: number): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['mcp']);
    const r: ClientResult = { deltas: 0, outOfOrder: 0, latencies: [], done: false };
    let next = 0;
    ws.on('error', reject);
    ws.on('open', () => {
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }));
    });
    ws.on('message', (data) => {
      const m = JSON.parse((data as Buffer).toString()) as { id?: number; method?: string; params?: { message?: string } };
      if (m.id === 1) {
        ws.send('{"jsonrpc":"2.0","method":"notifications/initialized"}');
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'llm_generate', arguments: { prompt: 'go' }, _meta: { progressToken: 1 } } }));
        return;
      }
      if (m.id === 2) {
        r.done = next === expected;
        ws.close();
        resolve(r);
        return;
      }
      const text = m.params?.message;
      if (text === undefined) return;
      const t = now();
      for (const part of text.split(' ')) {
        if (part === '') continue;
        const at = part.indexOf('@');
        const seq = Number(part.slice(0, at));
        if (seq !== next) r.outOfOrder++;
        next = seq + 1;
        r.deltas++;
        if (r.deltas % sampleEvery === 0) r.latencies.push(t - Number(part.slice(at + 1)));
      }
    });
  });
}

// ------------------------------------------------------------ relay alone

/**
 * relayStream by itself, in this process: a source that yields at once, a
 * context whose peer serialises each notification as a session does, and
 * drops it. µs of CPU per delta, and per delta with no progress token
 * (gathering only).
 */
async function relayAlone(deltas: number, progress: boolean): Promise<number> {
  let bytes = 0;
  const session: ContextSession = {
    peer: {
      id: 'bench',
      remoteAddress: '127.0.0.1',
      identity: undefined,
      sendText: (t: string) => void (bytes += t.length),
      notify: (method: string, params?: Record<string, unknown>) => void (bytes += JSON.stringify({ jsonrpc: '2.0', method, params }).length),
      close: () => {},
    },
    logLevel: 0,
    clientInfo: undefined,
    clientCapabilities: {},
    protocolVersion: '2025-11-25',
    askClient: () => Promise.resolve(undefined),
  };
  async function* source(): AsyncGenerator<string> {
    for (let i = 0; i < deltas; i++) yield 'token ';
  }
  const ctx = new RequestContext(session, 1, 'tools/call', progress ? { progressToken: 1 } : undefined);
  const c0 = process.cpuUsage();
  await relayStream(ctx, () => source());
  const c1 = process.cpuUsage(c0);
  if (progress && bytes === 0) throw new Error('nothing sent');
  return (c1.user + c1.system) / deltas;
}

// ------------------------------------------------------------ server child

/** Replies of each server child, answered in order: one listener per child, a FIFO of waiters (a slow child never gives one caller another's reply). */
const waiting = new WeakMap<ChildProcess, Array<(m: unknown) => void>>();
function stats(child: ChildProcess): Promise<{ cpuMicros: number; rss: number; deltas: number; active: number; paused: number }> {
  let queue = waiting.get(child);
  if (queue === undefined) {
    const q: Array<(m: unknown) => void> = [];
    waiting.set(child, (queue = q));
    child.on('message', (m) => q.shift()?.(m));
  }
  const q = queue;
  return new Promise((resolve) => {
    q.push(resolve as (m: unknown) => void);
    child.send({ type: 'stats' });
  });
}

function pct(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

type Stats = Awaited<ReturnType<typeof stats>>;

interface FloodResult {
  streams: number;
  delivered: number;
  seconds: number;
  deltasPerSecond: number;
  serverCpuMicrosPerDelta: number;
  inOrder: boolean;
}

interface ConcurrencyResult {
  streams: number;
  rate: number;
  deltasPerStream: number;
  delivered: number;
  expected: number;
  complete: number;
  outOfOrder: number;
  seconds: number;
  latencyMs: { p50: number; p99: number; max: number; samples: number };
  serverCpuPercent: number;
  serverCpuMicrosPerDelta: number;
  serverRssMB: { before: number; peak: number; after: number };
  pausedStreams: number;
  loadAverage: number[];
}

const loadavg = async (): Promise<number[]> => (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100);

/** Phase 1, as fast as the relay takes them: server CPU per delta. */
async function flood(url: string, child: ChildProcess): Promise<FloodResult> {
  const streams = Number(process.env.LLM_BENCH_FLOOD_STREAMS ?? 20);
  const perStream = 10_000;
  mode = { kind: 'flood', total: perStream };
  const s0 = await stats(child);
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: streams }, () => runClient(url, perStream, 100)));
  const seconds = (performance.now() - t0) / 1000;
  const s1 = await stats(child);
  const delivered = results.reduce((a, r) => a + r.deltas, 0);
  return {
    streams,
    delivered,
    seconds,
    deltasPerSecond: delivered / seconds,
    serverCpuMicrosPerDelta: (s1.cpuMicros - s0.cpuMicros) / (s1.deltas - s0.deltas),
    inOrder: results.every((r) => r.outOfOrder === 0 && r.done),
  };
}

/** Phase 2: STREAMS paced streams at `rate` deltas/s for SECONDS. */
async function concurrency(url: string, child: ChildProcess, rate: number): Promise<ConcurrencyResult> {
  const total = rate * SECONDS;
  mode = { kind: 'paced', total };
  startPacer(rate);
  const s2: Stats = await stats(child);
  const t2 = performance.now();
  let peakRss = s2.rss;
  let sampling = false;
  const sampler = setInterval(() => {
    if (sampling) return;
    sampling = true;
    void stats(child).then((s) => {
      peakRss = Math.max(peakRss, s.rss);
      sampling = false;
    });
  }, 1000);
  const results: ClientResult[] = [];
  // Open in batches so the handshakes do not all land in one tick.
  const pending: Array<Promise<ClientResult>> = [];
  for (let i = 0; i < STREAMS; i++) {
    pending.push(runClient(url, total, 10).then((r) => (results.push(r), r)));
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.all(pending);
  clearInterval(sampler);
  clearInterval(pacer);
  const wall = (performance.now() - t2) / 1000;
  const s3 = await stats(child);
  const lat = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const delivered = results.reduce((a, r) => a + r.deltas, 0);
  return {
    streams: STREAMS,
    rate,
    deltasPerStream: total,
    delivered,
    expected: STREAMS * total,
    complete: results.filter((r) => r.done).length,
    outOfOrder: results.reduce((a, r) => a + r.outOfOrder, 0),
    seconds: wall,
    latencyMs: { p50: pct(lat, 50), p99: pct(lat, 99), max: lat.at(-1) ?? NaN, samples: lat.length },
    serverCpuPercent: ((s3.cpuMicros - s2.cpuMicros) / 1e6 / wall) * 100,
    serverCpuMicrosPerDelta: (s3.cpuMicros - s2.cpuMicros) / Math.max(1, s3.deltas - s2.deltas),
    serverRssMB: { before: s2.rss / 2 ** 20, peak: peakRss / 2 ** 20, after: s3.rss / 2 ** 20 },
    pausedStreams: s3.paused,
    loadAverage: await loadavg(),
  };
}

/** One server process reading the provider one way, through both phases. */
async function runPath(base: string, path: 'sdk' | 'lean'): Promise<{ path: string; flood: FloodResult; concurrency: ConcurrencyResult[] }> {
  const profDir = fileURLToPath(new URL('../../bench/results/profiles/', import.meta.url));
  const execArgv = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=llm-server-${path}-${Date.now()}.cpuprofile`] : [];
  const child = fork(fileURLToPath(new URL('./llm-server.js', import.meta.url)), [base, path], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], execArgv });
  const url = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(String(d).trim())));
  const f = await flood(url, child);
  const c = [await concurrency(url, child, RATE)];
  if (LOW_RATE > 0 && LOW_RATE !== RATE) c.push(await concurrency(url, child, LOW_RATE));
  child.send({ type: 'exit' });
  await new Promise((r) => child.once('exit', r));
  return { path, flood: f, concurrency: c };
}

async function main(): Promise<void> {
  await new Promise<void>((r) => provider.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`;
  const killer = setTimeout(() => {
    process.stderr.write('bench/llm: took longer than 10 minutes, stopping\n');
    process.exit(1);
  }, 600_000);
  const loadBefore = await loadavg();

  // Phase 0: the relay alone.
  await relayAlone(50_000, true);
  const relayProgress = await relayAlone(500_000, true);
  const relayGather = await relayAlone(500_000, false);

  const runs = [await runPath(base, 'sdk'), await runPath(base, 'lean')];
  clearTimeout(killer);
  provider.close();

  const os = await import('node:os');
  const out = {
    date: new Date().toISOString(),
    node: process.version,
    cores: os.cpus().length,
    loadAverageAtStart: loadBefore,
    relayAlone: { cpuMicrosPerDeltaWithProgress: relayProgress, cpuMicrosPerDeltaGatherOnly: relayGather },
    runs,
  };
  const floodTable = (rs: typeof runs): string =>
    markdownTable(
      ['path', 'streams', 'deltas', 'seconds', 'deltas/s', 'server CPU µs/delta', 'in order'],
      rs.map((r) => [r.path, r.flood.streams, r.flood.delivered, fmt(r.flood.seconds), fmt(r.flood.deltasPerSecond), fmt(r.flood.serverCpuMicrosPerDelta), String(r.flood.inOrder)]),
      [false, true, true, true, true, true, false],
    );
  const concTable = (rs: typeof runs): string =>
    markdownTable(
      ['path', 'streams × deltas/s', 'delivered', 'expected', 'complete', 'out of order', 'p50 ms', 'p99 ms', 'max ms', 'server CPU %', 'server CPU µs/delta', 'RSS before MB', 'RSS peak MB', 'load avg (1/5/15 min) after'],
      rs.flatMap((r) =>
        r.concurrency.map((c) => [
          r.path,
          `${c.streams} × ${c.rate}`,
          c.delivered,
          c.expected,
          c.complete,
          c.outOfOrder,
          fmt(c.latencyMs.p50),
          fmt(c.latencyMs.p99),
          fmt(c.latencyMs.max),
          fmt(c.serverCpuPercent),
          fmt(c.serverCpuMicrosPerDelta),
          fmt(c.serverRssMB.before),
          fmt(c.serverRssMB.peak),
          c.loadAverage.join(' / '),
        ]),
      ),
      [false, true, true, true, true, true, true, true, true, true, true, true, true, false],
    );
  const page = (rs: typeof runs, title: string): string => `# ${title}, ${out.date}

Node ${out.node}, ${out.cores} cores, load average at start ${loadBefore.join(' / ')} (1/5/15 min). The server in a child
process (a fresh one per path), the fake provider (Chat Completions SSE) and the WebSocket clients in the bench
process. \`npm run bench:llm -- --streams ${STREAMS} --rate ${RATE} --low-rate ${LOW_RATE} --seconds ${SECONDS}\`.
Paths: \`sdk\` reads the provider with the \`openai\` package (fetch, WHATWG streams, its SSE decoder);
\`lean\` with undici's \`request\` and our SSE parser (the default for openai-compatible).

## The relay alone

relayStream over an in-memory source of 500,000 deltas, each serialised as a
\`notifications/progress\` (as the session would): **${fmt(relayProgress)} µs** of CPU per delta;
gathering only (no progress token): ${fmt(relayGather)} µs.

## Overhead per delta, end to end

${floodTable(rs)}

Server CPU per delta counts everything the server does for it: reading the provider's body, the SSE
parse, the relay, the progress notification's JSON and the WebSocket send.

## ${STREAMS} streams, paced, for ${SECONDS} s

${concTable(rs)}

Latency is from the fake provider's write to the client's receipt of the delta (one in ten sampled),
all on one machine: it bounds what the relay adds from above, since it also holds loopback and the
bench process's own event-loop delay (it runs the provider and ${STREAMS} clients on the same ${out.cores} cores).
`;
  const md = page(runs, 'LLM streaming relay, sdk and lean paths side by side');
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const stamp = out.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  writeFileSync(`${dir}llm-${stamp}.json`, `${JSON.stringify(out, null, 2)}\n`);
  writeFileSync(`${dir}llm-${stamp}.md`, md);
  writeFileSync(`${dir}llm-${stamp}-before.md`, page(runs.filter((r) => r.path === 'sdk'), 'LLM streaming relay, before: the sdk path'));
  process.stdout.write(md);
  process.exit(0);
}

void main();
