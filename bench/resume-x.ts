/**
 * Cross-node resume through Redis (src/server/resume-store.ts): what one
 * state write costs, and what a resume that rebuilds the session on another
 * node adds over one that finds it in process.
 *
 * 1. State writes: N sessions' states (a 2025-11-25 initialize, a log
 *    level, one subscription: ~330 B each) recorded at once, as N
 *    initializes in one turn would. Measured: the time on the caller's path
 *    (record(): no I/O), the flush (serialise + hand to ioredis), and the
 *    wall time until Redis acknowledged every SET (pipelined).
 * 2. Resume latency: two servers in this process (nodes A and B) sharing a
 *    real Redis, real sockets on loopback. A session is opened on A (with a
 *    log level and a subscription), its socket dropped; then the time from
 *    sending `ping` with its mcpSessionId to the reply, on a socket already
 *    open: on A (in process) and on B (B takes the state from Redis and
 *    replays it into a fresh handler). Alternated, R rounds each.
 *
 * Run: npx tsc -p tsconfig.bench.json && node dist-bench/bench/resume-x.js [--n N] [--rounds R]
 * Needs Redis at REDIS_URL (default redis://127.0.0.1:6379). Prints a
 * Markdown report and writes bench/results/resume-x-<date>.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { McpRouter } from '../src/router/router.js';
import { McpWsServer } from '../src/server/server.js';
import { ResumeStore } from '../src/server/resume-store.js';
import { resolveResumeStoreOptions } from '../src/server/resume-store-options.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '200' } } });
const N = Math.min(Number(values.n), 100_000);
const ROUNDS = Math.min(Number(values.rounds), 2000);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `mcp-ws-bench:resume-x:${process.pid}:`;

function ms(ns: bigint): number {
  return Number(ns) / 1e6;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function deleteKeys(): Promise<void> {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let cursor = '0';
  for (let round = 0; round < 100_000; round++) {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    if (keys.length > 0) await client.del(...keys);
    cursor = next;
    if (cursor === '0') break;
  }
  client.disconnect();
}

// ------------------------------------------------------------ state writes

async function writes(): Promise<string[]> {
  const store = new ResumeStore(resolveResumeStoreOptions({ url: REDIS_URL, prefix: `${PREFIX}w:`, timeoutMs: 5000 }), 60_000);
  store.open();
  if (!(await store.whenUp(5000))) throw new Error(`no Redis at ${REDIS_URL}`);
  const inFlight = (): number => (store as unknown as { inFlight: number }).inFlight;
  const rows: string[] = [];
  for (let round = 0; round < 3; round++) {
    const ids = Array.from({ length: N }, (_, i) => `${round}`.padStart(4, 'r') + `${i}`.padStart(20, '0'));
    const t0 = process.hrtime.bigint();
    for (const id of ids) {
      store.record(id, undefined, {
        protocolVersion: '2025-11-25',
        capabilities: { roots: { listChanged: true }, sampling: {} },
        clientInfo: { name: 'bench-client', version: '1.0.0' },
        initialized: true,
        logLevel: 'warning',
        subscriptions: ['demo://readme'],
        subprotocolVersion: undefined,
      });
    }
    const t1 = process.hrtime.bigint();
    store.flush();
    const t2 = process.hrtime.bigint();
    for (let i = 0; i < 600_000 && inFlight() > 0; i++) await new Promise((r) => setImmediate(r));
    const t3 = process.hrtime.bigint();
    rows.push(
      `| ${round + 1} | ${N} | ${((ms(t1 - t0) * 1e3) / N).toFixed(2)} | ${((ms(t2 - t1) * 1e3) / N).toFixed(2)} | ${((ms(t3 - t0) * 1e3) / N).toFixed(2)} | ${Math.round(N / (ms(t3 - t0) / 1e3))} |`,
    );
  }
  if (store.stats.errors > 0) throw new Error(`${store.stats.errors} writes failed`);
  await store.close();
  return rows;
}

// ----------------------------------------------------------- resume latency

/** What the bench reads of a reply. */
interface Msg {
  id?: unknown;
  result?: { mcpSessionId?: string };
  error?: unknown;
}

class Client {
  private waiting: ((m: Msg) => void) | undefined;
  private readonly queue: Msg[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse((d as Buffer).toString()) as Msg;
      const w = this.waiting;
      this.waiting = undefined;
      if (w) w(m);
      else this.queue.push(m);
    });
  }
  static open(url: string): Promise<Client> {
    const ws = new WebSocket(url, ['mcp']);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('error', reject);
    });
  }
  send(m: unknown): void {
    this.ws.send(JSON.stringify(m));
  }
  next(): Promise<Msg> {
    const m = this.queue.shift();
    if (m !== undefined) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no reply within 10 s')), 10_000);
      this.waiting = (x) => {
        clearTimeout(t);
        resolve(x);
      };
    });
  }
  async call(m: { id: number | string } & Record<string, unknown>): Promise<Msg> {
    this.send(m);
    for (;;) {
      const r = await this.next();
      if (r.id === m.id) return r;
    }
  }
}

async function latency(): Promise<{ local: number[]; remote: number[]; ping: number[] }> {
  const router = (): McpRouter => new McpRouter({ name: 'bench', version: '1' }).resource({ uri: 'bench://r', name: 'r' }, () => 'r');
  const resumeStore = { url: REDIS_URL, prefix: `${PREFIX}l:`, timeoutMs: 5000 };
  const a = new McpWsServer({ handler: router(), port: 0, processMetrics: false, resumeStore, maxDetachedPerIdentity: 100_000 });
  const b = new McpWsServer({ handler: router(), port: 0, processMetrics: false, resumeStore });
  const [ua, ub] = [(await a.listen()).url, (await b.listen()).url];
  await a.resumer.store!.whenUp(5000);
  await b.resumer.store!.whenUp(5000);
  const redis = new Redis(REDIS_URL);
  const local: number[] = [];
  const remote: number[] = [];
  const ping: number[] = [];
  for (let r = 0; r < ROUNDS * 2; r++) {
    const c = await Client.open(ua);
    const init = await c.call({ jsonrpc: '2.0', id: 'i', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } });
    c.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await c.call({ jsonrpc: '2.0', id: 'l', method: 'logging/setLevel', params: { level: 'warning' } });
    await c.call({ jsonrpc: '2.0', id: 's', method: 'resources/subscribe', params: { uri: 'bench://r' } });
    const id = init.result?.mcpSessionId;
    if (id === undefined) throw new Error(`initialize offered no mcpSessionId: ${JSON.stringify(init)}`);
    const key = a.resumer.store!.keyOf(id);
    // Wait until the state with the subscription is in Redis.
    for (let i = 0; i < 1000; i++) {
      const v = await redis.get(key);
      if (v !== null && v.includes('bench://r') && v.includes('"initialized":true')) break;
      await new Promise((res) => setTimeout(res, 2));
    }
    const detached = a.resumer.detachedCount + 1;
    c.ws.terminate();
    for (let i = 0; i < 5000 && a.resumer.detachedCount < detached; i++) await new Promise((res) => setTimeout(res, 1));
    const isRemote = r % 2 === 1;
    const next = await Client.open(isRemote ? ub : ua);
    const p0 = process.hrtime.bigint();
    await redis.ping();
    ping.push(ms(process.hrtime.bigint() - p0));
    const t0 = process.hrtime.bigint();
    const reply = await next.call({ jsonrpc: '2.0', id: 1, method: 'ping', mcpSessionId: id });
    const t = ms(process.hrtime.bigint() - t0);
    if (reply.result === undefined) throw new Error(`resume refused: ${JSON.stringify(reply)}`);
    (isRemote ? remote : local).push(t);
    next.ws.close(1000);
  }
  redis.disconnect();
  await Promise.all([a.close(), b.close()]);
  const sort = (x: number[]): number[] => x.sort((p, q) => p - q);
  return { local: sort(local), remote: sort(remote), ping: sort(ping) };
}

const writeRows = await writes();
const { local, remote, ping } = await latency();
await deleteKeys();

const row = (name: string, s: number[]): string => `| ${name} | ${s.length} | ${pct(s, 50).toFixed(3)} | ${pct(s, 90).toFixed(3)} | ${pct(s, 99).toFixed(3)} |`;
const lines = [
  `# Cross-node resume through Redis, ${new Date().toISOString()}`,
  '',
  `Command: \`node dist-bench/bench/resume-x.js --n ${N} --rounds ${ROUNDS}\`, Node ${process.version}, Redis at ${REDIS_URL.replace(/\/\/[^@]*@/, '//')} (loopback). Load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(', ')} on ${cpus().length} cores.`,
  '',
  '## State writes',
  '',
  `${N} session states (~330 B each) recorded in one turn, written in one flush (SET … PX, pipelined by ioredis). µs per write; "caller" is the time on the path that changed the state (no I/O), "flush" serialises and hands to ioredis, "acked" is until Redis answered the last one.`,
  '',
  '| round | states | caller µs | flush µs | acked µs (wall, per write) | writes/s |',
  '|---:|---:|---:|---:|---:|---:|',
  ...writeRows,
  '',
  '## Resume latency',
  '',
  `Time from sending \`ping\` with \`mcpSessionId\` to its reply on an open socket (ms), the session having a log level and one subscription. In process: node A still holds it. Cross-node: node B takes the state from Redis (one Lua script), replays initialize, notifications/initialized, logging/setLevel and resources/subscribe into a fresh handler, writes the state back (off the path), then answers. Alternated rounds.`,
  '',
  '| resume | n | p50 ms | p90 ms | p99 ms |',
  '|---|---:|---:|---:|---:|',
  row('in process (node A)', local),
  row('cross-node (node B, from Redis)', remote),
  row('for scale: one Redis PING round trip', ping),
  '',
  `Added by the cross-node path at the median: ${(pct(remote, 50) - pct(local, 50)).toFixed(3)} ms.`,
  '',
];
const out = lines.join('\n');
process.stdout.write(out);
const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `resume-x-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z.md`;
writeFileSync(dir + file, out);
process.stdout.write(`wrote bench/results/${file}\n`);
