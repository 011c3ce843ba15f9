/**
 * What the observability adds to the per-request path, in process:
 * - before: `requestLatency.observe()` alone (the overall histogram);
 * - now: `observeRequest(method, s)`, the overall histogram plus the
 *   method's (one Map lookup), with method strings that came out of
 *   JSON.parse as a session's do;
 * - off the path, for scale: one `metrics.snapshot()` (taken once a second
 *   while the dashboard is watched, or per /debug/snapshot request at most
 *   once a second) with 20 methods timed.
 * The request path with tracing and no tracer provider registered reads one
 * property that stays undefined; nothing to measure here.
 *
 * Run alone: npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro-observe.js
 */
import { Bench } from 'tinybench';
import { ServerMetrics } from '../src/metrics/metrics.js';

const BATCH = 1_000;
const METHODS = ['tools/call', 'tools/list', 'ping', 'resources/read', 'prompts/get'];
/** Method strings as a parsed message holds them: fresh strings, not the literals above. */
const parsed = Array.from({ length: BATCH }, (_, i) => (JSON.parse(`{"method":"${METHODS[i % METHODS.length]!}"}`) as { method: string }).method);
const seconds = Array.from({ length: BATCH }, (_, i) => ((i * 7919) % 2000) / 1e5);

const before = new ServerMetrics();
const now = new ServerMetrics();
const snap = new ServerMetrics();
for (let i = 0; i < 20; i++) for (let j = 0; j < 100; j++) snap.observeRequest(`method/${i}`, j / 1e4);

const bench = new Bench({ time: 1500, warmupTime: 300 });
bench
  .add(`requestLatency.observe × ${BATCH} (before)`, () => {
    for (let i = 0; i < BATCH; i++) before.requestLatency.observe(seconds[i]!);
  })
  .add(`observeRequest(method) × ${BATCH} (now)`, () => {
    for (let i = 0; i < BATCH; i++) now.observeRequest(parsed[i]!, seconds[i]!);
  })
  .add('metrics.snapshot() × 1, 20 methods (once a second)', () => {
    snap.snapshot();
  });

await bench.run();
for (const t of bench.tasks) {
  const r = t.result as { latency?: { mean: number }; mean?: number } | undefined;
  const meanMs = r?.latency?.mean ?? r?.mean ?? NaN;
  const per = t.name.includes(`× ${BATCH}`) ? (meanMs * 1e6) / BATCH : meanMs * 1e6;
  process.stdout.write(`${t.name}: ${per.toFixed(1)} ns ${t.name.includes(`× ${BATCH}`) ? 'per request' : 'per call'}\n`);
}
