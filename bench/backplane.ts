/**
 * The Redis backplane: what a published notification costs the server,
 * and how long it takes to reach a subscriber on another node. Two node
 * processes (bench/backplane-node.ts) on loopback, Redis at REDIS_URL
 * (default redis://127.0.0.1:6379) under a key prefix of this run.
 *
 *   npm run bench:backplane [-- --publish 200000 --samples 2000]
 *
 * Phase 1, cost: node B runs `burst` (n notifyResourceUpdated calls for a
 *   URI nobody subscribes to, 500 at a time, each batch answered by Redis
 *   before the next) with and without a backplane; the difference
 *   of B's CPU time, divided by n, is the backplane's cost per published
 *   notification (encode, PUBLISH write, its reply). Node A's CPU over the
 *   same window, divided by what it received, is the cost per received
 *   one (parse, check, dispatch to no subscriber). Both rounds run once
 *   each after a warm-up, side by side in this run.
 * Phase 2, latency: a client on A subscribed to a URI, a client on B (and,
 *   as a baseline, a subscriber on B itself) calls `touch` one at a time:
 *   the time from sending the call to the notification's arrival, on A
 *   (across nodes, through Redis) and on B (local delivery).
 *
 * Results: bench/results/backplane-<date>.md.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { fmt, markdownTable } from './lib/markdown.js';

const { values } = parseArgs({ options: { publish: { type: 'string', default: '200000' }, samples: { type: 'string', default: '2000' } } });
const PUBLISH = Number(values.publish);
const SAMPLES = Number(values.samples);
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `mcp-ws-bench:${process.pid}:${Date.now().toString(36)}:`;

interface Stats {
  cpuMicros: number;
  published: number;
  received: number;
  pending: number;
  dropped: number;
}
interface Node {
  child: ChildProcess;
  url: string;
  stats(): Promise<Stats>;
}

async function startNode(redis: string): Promise<Node> {
  const child = fork(fileURLToPath(new URL('./backplane-node.js', import.meta.url)), [redis, PREFIX], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ws:\/\/\S+/.exec(out);
      if (m) resolve(m[0]);
    });
    child.once('exit', (code) => reject(new Error(`node exited with ${code}`)));
  });
  const stats = (): Promise<Stats> =>
    new Promise((resolve) => {
      child.once('message', (m) => resolve(m as Stats));
      child.send({ type: 'stats' });
    });
  return { child, url, stats };
}

async function stop(n: Node): Promise<void> {
  const gone = new Promise((r) => n.child.once('exit', r));
  n.child.send({ type: 'exit' });
  await gone;
}

/** A raw MCP client: requests by id, and a hook on every notification. */
class Client {
  private id = 0;
  private readonly waiting = new Map<number, () => void>();
  onNote: ((m: { method: string; params?: { uri?: string } }) => void) | undefined;
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse((d as Buffer).toString()) as { id?: number; method?: string; params?: { uri?: string } };
      if (m.id !== undefined) this.waiting.get(m.id)?.();
      else if (m.method !== undefined) this.onNote?.(m as { method: string });
    });
  }
  static async open(url: string): Promise<Client> {
    const ws = new WebSocket(url, ['mcp']);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const c = new Client(ws);
    await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } });
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    return c;
  }
  request(method: string, params: unknown): Promise<void> {
    const id = ++this.id;
    return new Promise((resolve) => {
      this.waiting.set(id, () => {
        this.waiting.delete(id);
        resolve();
      });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }
  close(): void {
    this.ws.close();
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ------------------------------------------------------------------ cost

async function costRound(withBackplane: boolean): Promise<{ senderUs: number; receiverUs: number; received: number; published: number; dropped: number }> {
  const [a, b] = [await startNode(withBackplane ? REDIS : 'none'), await startNode(withBackplane ? REDIS : 'none')];
  const client = await Client.open(b.url);
  await client.request('tools/call', { name: 'burst', arguments: { uri: 'bench://warm', n: 20_000 } }); // warm-up
  for (let i = 0; i < 500; i++) {
    const s = await b.stats();
    if (s.pending === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const [a0, b0] = [await a.stats(), await b.stats()];
  await client.request('tools/call', { name: 'burst', arguments: { uri: 'bench://nobody', n: PUBLISH } });
  // Wait until every publication was answered and A has received what it will.
  let a1 = await a.stats();
  let b1 = await b.stats();
  for (let i = 0; i < 3000 && withBackplane && (b1.pending > 0 || a1.received - a0.received < b1.published - b0.published - (b1.dropped - b0.dropped)); i++) {
    await new Promise((r) => setTimeout(r, 20));
    [a1, b1] = [await a.stats(), await b.stats()];
  }
  client.close();
  await Promise.all([stop(a), stop(b)]);
  return { senderUs: b1.cpuMicros - b0.cpuMicros, receiverUs: a1.cpuMicros - a0.cpuMicros, received: a1.received - a0.received, published: b1.published - b0.published, dropped: b1.dropped - b0.dropped };
}

const without = await costRound(false);
const withBp = await costRound(true);
const perPublished = (withBp.senderUs - without.senderUs) / PUBLISH;
const perReceived = withBp.received > 0 ? withBp.receiverUs / withBp.received : NaN;

// --------------------------------------------------------------- latency

const [a, b] = [await startNode(REDIS), await startNode(REDIS)];
const subA = await Client.open(a.url);
const subB = await Client.open(b.url);
await subA.request('resources/subscribe', { uri: 'bench://x' });
await subB.request('resources/subscribe', { uri: 'bench://x' });
const caller = await Client.open(b.url);
const remote: number[] = [];
const local: number[] = [];
for (let i = 0; i < SAMPLES + 200; i++) {
  const t0 = performance.now();
  const gotA = new Promise<number>((resolve) => (subA.onNote = () => resolve(performance.now() - t0)));
  const gotB = new Promise<number>((resolve) => (subB.onNote = () => resolve(performance.now() - t0)));
  await caller.request('tools/call', { name: 'touch', arguments: { uri: 'bench://x' } });
  const [ra, rb] = await Promise.all([gotA, gotB]);
  if (i >= 200) {
    remote.push(ra);
    local.push(rb);
  }
}
for (const c of [subA, subB, caller]) c.close();
await Promise.all([stop(a), stop(b)]);
remote.sort((x, y) => x - y);
local.sort((x, y) => x - y);

// ---------------------------------------------------------------- report

const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
const lines = [
  `# Redis backplane — ${stamp}`,
  '',
  `Node ${process.version}, Redis ${REDIS.replace(/\/\/[^@]*@/, '//')}, two node processes on loopback; \`npm run bench:backplane -- --publish ${PUBLISH} --samples ${SAMPLES}\`.`,
  '',
  '## Cost per published notification (server CPU)',
  '',
  markdownTable(
    ['round', `node B CPU for ${fmt(PUBLISH)} notifyResourceUpdated`, 'node A CPU', 'published', 'received by A', 'dropped'],
    [
      ['no backplane', `${fmt(without.senderUs / 1000)} ms`, `${fmt(without.receiverUs / 1000)} ms`, 0, 0, 0],
      ['backplane', `${fmt(withBp.senderUs / 1000)} ms`, `${fmt(withBp.receiverUs / 1000)} ms`, fmt(withBp.published), fmt(withBp.received), fmt(withBp.dropped)],
    ],
    [false, true, true, true, true, true],
  ),
  '',
  `Backplane cost per published notification (sender): **${fmt(perPublished)} µs** CPU; per received one (receiver, no local subscriber): **${fmt(perReceived)} µs**.`,
  '',
  '## Delivery latency, call sent → notification received',
  '',
  markdownTable(
    ['subscriber', 'p50', 'p99', 'max', 'samples'],
    [
      ['on node A (across nodes, through Redis)', `${fmt(pct(remote, 50), 3)} ms`, `${fmt(pct(remote, 99), 3)} ms`, `${fmt(remote[remote.length - 1], 3)} ms`, remote.length],
      ['on node B (local delivery)', `${fmt(pct(local, 50), 3)} ms`, `${fmt(pct(local, 99), 3)} ms`, `${fmt(local[local.length - 1], 3)} ms`, local.length],
    ],
    [false, true, true, true, true],
  ),
  '',
];
const text = lines.join('\n');
process.stdout.write(`${text}\n`);
const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}backplane-${stamp}.md`, text);
process.stdout.write(`written to bench/results/backplane-${stamp}.md\n`);
