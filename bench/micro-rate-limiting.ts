/**
 * Rate-limit checks in memory over 10,000 keys, each strategy, beside the
 * seed's published figures (cargo bench rate_limiting, a faster desktop CPU:
 * TokenBucket 2.1 M checks/s (476 ns), LeakyBucket 1.9 M (526 ns),
 * SlidingWindow 1.7 M (588 ns)). Target (PERFORMANCE.md): ≥ 10 M checks/s
 * each. Run alone, it also measures the Redis store beside
 * `redis-benchmark -t ping -q -n 100000` on the same machine.
 *
 * Cases, each a batch of one check per key (10,000, in a fixed shuffled
 * order, so every check meets a key whose state has aged by one batch):
 * - `<Strategy> check`: the limiter with the time read once per batch, as
 *   RateLimiter does (one clock read per event-loop turn, shared by every
 *   scope of every request in it). Held to the target.
 * - `<Strategy> check, clock read per check`: the same with
 *   performance.now() on every check, to show what the clock costs here.
 * - `RateLimiter.checkRequest …`: the whole admission path of one request
 *   (the four-scope row makes four checks per request, so it is a reference).
 * Limits are the seed's high-throughput preset (10,000/s, burst 20,000), so
 * every check takes the allowing path a server takes almost always.
 *
 * As a group: `rateLimitingGroup()` returns a MicroGroup for bench/micro.ts.
 * Run alone: npx tsc -p tsconfig.bench.json
 *            && node dist-bench/bench/micro-rate-limiting.js [--time ms] [--no-redis]
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { LeakyBucketLimiter } from '../src/ratelimit/leaky-bucket.js';
import { SlidingWindowLimiter } from '../src/ratelimit/sliding-window.js';
import { TokenBucketLimiter } from '../src/ratelimit/token-bucket.js';
import { RateLimiter, type RateLimitRequest } from '../src/ratelimit/limiter.js';
import { RATE_LIMIT_PRESETS } from '../src/ratelimit/config.js';
import { RedisConnection, RedisStore } from '../src/ratelimit/store-redis.js';
import type { SlabLimiter } from '../src/ratelimit/key-slab.js';
import type { RateLimitStrategy } from '../src/ratelimit/types.js';
import type { MicroCase, MicroGroup } from './micro/group.js';
import { fmt, markdownTable } from './lib/markdown.js';

const KEYS = 10_000;
const TARGET = 10e6;
const SEED: Record<RateLimitStrategy, { opsPerSecond: number; nsPerOp: number }> = {
  TokenBucket: { opsPerSecond: 2.1e6, nsPerOp: 476 },
  LeakyBucket: { opsPerSecond: 1.9e6, nsPerOp: 526 },
  SlidingWindow: { opsPerSecond: 1.7e6, nsPerOp: 588 },
};
const LIMIT = RATE_LIMIT_PRESETS.highThroughput;

/** The keys, in a fixed shuffled order (xorshift), as strings a server would hold (IPs). */
function shuffledKeys(): string[] {
  const keys = Array.from({ length: KEYS }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  let x = 0x9e3779b9;
  for (let i = keys.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  return keys;
}

type Loop = (limiter: SlabLimiter, keys: readonly string[], clock: () => number) => number;

/**
 * One compiled loop per case: a loop shared by the three classes would make
 * `check()` a polymorphic call site, which a server (one limiter per limit)
 * never has.
 */
function compile(perCheckClock: boolean): Loop {
  const body = perCheckClock
    ? 'for (let i = 0; i < keys.length; i++) if (l.check(keys[i], 1, clock()).allowed) n++;'
    : 'const now = clock(); for (let i = 0; i < keys.length; i++) if (l.check(keys[i], 1, now).allowed) n++;';
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- one compiled loop per case, as explained above
  return new Function('l', 'keys', 'clock', `let n = 0; ${body} return n;`) as Loop;
}

function makeLimiter(strategy: RateLimitStrategy): SlabLimiter {
  switch (strategy) {
    case 'TokenBucket':
      return new TokenBucketLimiter(LIMIT);
    case 'LeakyBucket':
      return new LeakyBucketLimiter(LIMIT);
    case 'SlidingWindow':
      return new SlidingWindowLimiter({ ...LIMIT, strategy: 'SlidingWindow' });
  }
}

/** The rate-limiting micro-benchmark group (see the header). */
export function rateLimitingGroup(): MicroGroup {
  const keys = shuffledKeys();
  const clock = (): number => performance.now();
  const cases: MicroCase[] = [];
  const limiters: SlabLimiter[] = [];
  for (const perCheckClock of [false, true]) {
    for (const strategy of ['TokenBucket', 'LeakyBucket', 'SlidingWindow'] as const) {
      const limiter = makeLimiter(strategy);
      limiters.push(limiter);
      const loop = compile(perCheckClock);
      cases.push({
        name: perCheckClock ? `${strategy} check, clock read per check (10k keys)` : `${strategy} check (10k keys)`,
        opsPerCall: KEYS,
        seed: perCheckClock ? undefined : SEED[strategy],
        reference: perCheckClock,
        run: () => loop(limiter, keys, clock),
      });
    }
  }

  // The whole admission path: one clock reading per batch, as the turn clock gives.
  let batchNow = performance.now();
  const batchClock = (): number => batchNow;
  const requests: RateLimitRequest[] = keys.map((ip, i) => ({ connectionKey: `session-${i}`, identityKey: undefined, ip, method: 'tools/call' }));
  const admission = (name: string, limiter: RateLimiter, reference: boolean): MicroCase => ({
    name,
    opsPerCall: KEYS,
    reference,
    run: () => {
      batchNow = performance.now();
      let n = 0;
      for (let i = 0; i < requests.length; i++) if (limiter.checkRequest(requests[i]!) === null) n++;
      return n;
    },
  });
  const perConnection = new RateLimiter({ ...LIMIT, clock: batchClock });
  const fourScopes = new RateLimiter({
    ...LIMIT,
    identity: { maxRequestsPerSecond: 10_000, maxBurst: 20_000 },
    global: { maxRequestsPerSecond: 1e9, maxBurst: 1e9 },
    methods: { 'tools/call': { strategy: 'SlidingWindow', maxRequestsPerSecond: 10_000 } },
    clock: batchClock,
  });
  cases.push(admission('RateLimiter.checkRequest, per connection (10k sessions)', perConnection, false));
  // Four checks per request: held to no per-check target; ns/request ÷ 4 is the per-check cost.
  cases.push(admission('RateLimiter.checkRequest, connection+IP+global+method = 4 checks/request (10k sessions)', fourScopes, true));

  return {
    title: `rate-limit checks in memory, ${KEYS.toLocaleString('en-US')} keys, seed's high-throughput limit`,
    targetOpsPerSecond: TARGET,
    cases,
    check() {
      for (const l of limiters) if (l.size !== KEYS) throw new Error(`${l.strategy}: expected ${KEYS} keys, found ${l.size}`);
      const allowed = perConnection.counters.allowed.reduce((a, b) => a + b, 0);
      if (allowed === 0 || allowed % KEYS !== 0) throw new Error('RateLimiter.checkRequest did not run');
    },
  };
}

/** Checks/s of the Redis store with `concurrency` checks in flight for `ms`, over 10,000 keys. */
async function redisChecksPerSecond(url: string, concurrency: number, ms: number): Promise<number> {
  const connection = new RedisConnection({ url, prefix: `mcp-ws-bench:${process.pid}:`, timeoutMs: 2000, failMode: 'closed' });
  try {
    if (!(await connection.whenUp(3000))) throw new Error(`no Redis at ${url}`);
    const store = new RedisStore({ ...LIMIT, connection });
    const keys = shuffledKeys();
    let next = 0;
    let done = 0;
    let failed = 0;
    const run = async (until: number): Promise<void> => {
      while (performance.now() < until) {
        const r = await store.check(keys[next++ % KEYS]!);
        if (r.allowed) done++;
        else failed++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, () => run(performance.now() + 300))); // warm-up
    done = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, () => run(t0 + ms)));
    const seconds = (performance.now() - t0) / 1000;
    if (connection.errors > 0 || failed > 0) throw new Error(`${connection.errors} store errors, ${failed} denied`);
    // Leave nothing behind.
    let cursor = '0';
    for (let round = 0; round < 1000; round++) {
      const [c, found] = await connection.client.scan(cursor, 'MATCH', `${connection.prefix}*`, 'COUNT', 1000);
      if (found.length > 0) await connection.client.del(...found);
      cursor = c;
      if (cursor === '0') break;
    }
    return done / seconds;
  } finally {
    await connection.close();
  }
}

/** `redis-benchmark -t ping -q -n 100000` figures (requests/s by test), or undefined when it is not on PATH. */
function redisBenchmarkPing(url: string): Record<string, number> | undefined {
  const u = new URL(url);
  let out: string;
  try {
    out = execFileSync('redis-benchmark', ['-h', u.hostname, '-p', u.port || '6379', '-t', 'ping', '-q', '-n', '100000'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
  } catch {
    return undefined;
  }
  const figures: Record<string, number> = {};
  // Lines look like "PING_INLINE: 98039.22 requests per second, p50=0.255 msec"; progress updates end in \r.
  for (const line of out.split(/[\r\n]+/)) {
    const m = /^(PING_\w+):\s+([\d.]+) requests per second/.exec(line.trim());
    if (m) figures[m[1]!] = Number(m[2]);
  }
  return figures;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { time: { type: 'string', default: '1000' }, 'no-redis': { type: 'boolean', default: false } } });
  const time = Number(values.time);
  if (!Number.isFinite(time) || time <= 0) throw new Error(`--time should be a positive number of ms, got "${values.time}"`);
  const group = rateLimitingGroup();
  const bench = new Bench({ name: 'rate limiting', time, warmupTime: Math.min(500, time / 2) });
  let sink = 0;
  for (const c of group.cases) {
    const run = c.run;
    bench.add(c.name, () => {
      sink += run();
    });
  }
  await bench.run();
  await group.check?.();
  const mops = (n: number): string => `${(n / 1e6).toFixed(1)} M`;
  const rows = group.cases.map((c) => {
    const r = bench.getTask(c.name)?.result as { state?: string; period?: number; latency?: { rme: number } } | undefined;
    if (!r || r.state !== 'completed' || r.period === undefined) throw new Error(`case ${c.name} did not complete`);
    const ns = (r.period * 1e6) / c.opsPerCall;
    const ops = 1e9 / ns;
    return [
      c.name,
      mops(ops),
      fmt(ns, 1),
      c.seed ? `${mops(c.seed.opsPerSecond)} (${c.seed.nsPerOp} ns)` : '—',
      c.seed ? `${fmt(ops / c.seed.opsPerSecond, 1)} ×` : '—',
      c.reference ? '(reference)' : ops >= TARGET ? `yes (≥ ${mops(TARGET)})` : `NO (≥ ${mops(TARGET)})`,
      `±${fmt(r.latency?.rme ?? NaN, 1)} %`,
    ];
  });
  process.stdout.write(`\n## ${group.title}\n\n`);
  process.stdout.write(
    `${markdownTable(['case', 'checks/s', 'ns/check', 'seed', 'vs seed', 'target met', 'rme'], rows, [false, true, true, true, true, false, true])}\n`,
  );

  if (!values['no-redis']) {
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    process.stdout.write(`\n## Redis store (${url}): one Lua script call per check, auto-pipelined\n\n`);
    const redisRows: Array<Array<string>> = [];
    try {
      for (const concurrency of [1, 50, 1000]) {
        const cps = await redisChecksPerSecond(url, concurrency, Math.max(1000, time));
        redisRows.push([`RedisStore.check, TokenBucket, ${concurrency} in flight`, fmt(cps, 0)]);
      }
    } catch (err) {
      redisRows.push(['RedisStore.check', `skipped: ${(err as Error).message}`]);
    }
    const ping = redisBenchmarkPing(url);
    if (ping === undefined) redisRows.push(['redis-benchmark -t ping -q -n 100000', 'not on PATH']);
    else for (const [name, rps] of Object.entries(ping)) redisRows.push([`redis-benchmark -t ping -q -n 100000: ${name} (50 clients)`, fmt(rps, 0)]);
    process.stdout.write(`${markdownTable(['case', 'requests/s'], redisRows, [false, true])}\n`);
  }
  process.stdout.write(`\n(Node ${process.version}; batch results folded into ${sink % 1000})\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench/micro-rate-limiting: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
