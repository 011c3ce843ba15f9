/**
 * LLM streaming relay: what relaying a provider's token stream costs the
 * server, against a local fake provider speaking the Chat Completions SSE
 * format (the real `openai` package reads it, as in production).
 *
 *   npm run bench:llm [-- --streams 1000 --rate 50 --seconds 10]
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
 * Results: bench/results/llm-<date>.md and .json.
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
    seconds: { type: 'string', default: '10' },
  },
});
const STREAMS = Number(values.streams);
const RATE = Number(values.rate);
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
function startPacer(): void {
  const interval = 1000 / RATE;
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

function stats(child: ChildProcess): Promise<{ cpuMicros: number; rss: number; deltas: number; active: number; paused: number }> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as never));
    child.send({ type: 'stats' });
  });
}

function pct(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  await new Promise<void>((r) => provider.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`;
  const child = fork(fileURLToPath(new URL('./llm-server.js', import.meta.url)), [base], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(String(d).trim())));
  const killer = setTimeout(() => {
    process.stderr.write('bench/llm: took longer than 10 minutes, stopping\n');
    child.kill('SIGKILL');
    process.exit(1);
  }, 600_000);

  // Phase 0: the relay alone.
  await relayAlone(50_000, true);
  const relayProgress = await relayAlone(500_000, true);
  const relayGather = await relayAlone(500_000, false);

  // Phase 1: overhead per delta.
  const floodStreams = Number(process.env.LLM_BENCH_FLOOD_STREAMS ?? 20);
  const floodDeltas = 10_000;
  mode = { kind: 'flood', total: floodDeltas };
  const s0 = await stats(child);
  const t0 = performance.now();
  const flood = await Promise.all(Array.from({ length: floodStreams }, () => runClient(url, floodDeltas, 100)));
  const floodSeconds = (performance.now() - t0) / 1000;
  const s1 = await stats(child);
  const floodTotal = flood.reduce((a, r) => a + r.deltas, 0);
  const cpuPerDelta = (s1.cpuMicros - s0.cpuMicros) / (s1.deltas - s0.deltas);

  // Phase 2: concurrency.
  const total = RATE * SECONDS;
  mode = { kind: 'paced', total };
  startPacer();
  const s2 = await stats(child);
  const t2 = performance.now();
  let peakRss = s2.rss;
  const sampler = setInterval(() => void stats(child).then((s) => (peakRss = Math.max(peakRss, s.rss))), 1000);
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
  const outOfOrder = results.reduce((a, r) => a + r.outOfOrder, 0);
  const complete = results.filter((r) => r.done).length;
  child.send({ type: 'exit' });
  clearTimeout(killer);
  provider.close();

  const out = {
    date: new Date().toISOString(),
    node: process.version,
    cores: (await import('node:os')).cpus().length,
    relayAlone: { cpuMicrosPerDeltaWithProgress: relayProgress, cpuMicrosPerDeltaGatherOnly: relayGather },
    overhead: { streams: floodStreams, deltasPerStream: floodDeltas, delivered: floodTotal, seconds: floodSeconds, deltasPerSecond: floodTotal / floodSeconds, serverCpuMicrosPerDelta: cpuPerDelta, inOrder: flood.every((r) => r.outOfOrder === 0 && r.done) },
    concurrency: {
      streams: STREAMS,
      rate: RATE,
      deltasPerStream: total,
      delivered,
      expected: STREAMS * total,
      complete,
      outOfOrder,
      seconds: wall,
      latencyMs: { p50: pct(lat, 50), p99: pct(lat, 99), max: lat.at(-1) ?? NaN, samples: lat.length },
      serverCpuPercent: ((s3.cpuMicros - s2.cpuMicros) / 1e6 / wall) * 100,
      serverRssMB: { before: s2.rss / 2 ** 20, peak: peakRss / 2 ** 20, after: s3.rss / 2 ** 20 },
      pausedStreams: s3.paused,
    },
  };
  const c = out.concurrency;
  const md = `# LLM streaming relay, ${out.date}

Node ${out.node}, ${out.cores} cores; the server in a child process, the fake provider (Chat Completions SSE,
read by the \`openai\` package) and the WebSocket clients in the bench process. \`npm run bench:llm\`.

## The relay alone

relayStream over an in-memory source of 500,000 deltas, each serialised as a
\`notifications/progress\` (as the session would): **${fmt(relayProgress)} µs** of CPU per delta;
gathering only (no progress token): ${fmt(relayGather)} µs.

## Overhead per delta, end to end

${markdownTable(
  ['streams', 'deltas', 'seconds', 'deltas/s', 'server CPU µs/delta', 'in order'],
  [[floodStreams, floodTotal, fmt(floodSeconds), fmt(out.overhead.deltasPerSecond), fmt(cpuPerDelta), String(out.overhead.inOrder)]],
  [true, true, true, true, true, false],
)}

Server CPU per delta counts everything the server does for it: undici reading the body, the SDK's
SSE parse, the relay, the progress notification's JSON and the WebSocket send.

## ${STREAMS} streams at ${RATE} deltas/s for ${SECONDS} s

${markdownTable(
  ['delivered', 'expected', 'complete streams', 'out of order', 'p50 ms', 'p99 ms', 'max ms', 'server CPU %', 'RSS before MB', 'RSS peak MB', 'RSS after MB'],
  [[c.delivered, c.expected, c.complete, c.outOfOrder, fmt(c.latencyMs.p50), fmt(c.latencyMs.p99), fmt(c.latencyMs.max), fmt(c.serverCpuPercent), fmt(c.serverRssMB.before), fmt(c.serverRssMB.peak), fmt(c.serverRssMB.after)]],
  Array(11).fill(true) as boolean[],
)}

Latency is from the fake provider's write to the client's receipt of the delta (one in ten sampled),
all on one machine: it bounds what the relay adds from above, since it also holds loopback, the
SDK's parse and the bench process's own event-loop delay (it runs the provider and ${STREAMS} clients).
`;
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const stamp = out.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  writeFileSync(`${dir}llm-${stamp}.json`, `${JSON.stringify(out, null, 2)}\n`);
  writeFileSync(`${dir}llm-${stamp}.md`, md);
  process.stdout.write(md);
  process.exit(0);
}

void main();
