/**
 * What the observability adds to the per-request path, in process:
 * - before: `requestLatency.observe()` alone (the overall histogram);
 * - now: `observeRequest(method, s)`, the overall histogram plus the
 *   method's (one Map lookup), with method strings that came out of
 *   JSON.parse as a session's do;
 * - off the path, for scale: one `metrics.snapshot()` (taken once a second
 *   while the dashboard is watched, or per /debug/snapshot request at most
 *   once a second) with 20 methods timed.
 * - a request span with a tracer provider registered whose spans record
 *   nothing (the API's non-recording span): begin, run, end, as the message
 *   path does per request when an application registers tracing. With no
 *   provider registered the path reads one property that stays undefined.
 *
 * Run: npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro-observe.js
 * Prints a Markdown table and writes bench/results/micro-observe-<date>.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { trace, INVALID_SPAN_CONTEXT, type Tracer } from '@opentelemetry/api';
import { ServerMetrics } from '../src/metrics/metrics.js';
import { loadTracing } from '../src/observe/tracing.js';

const BATCH = 1_000;
const METHODS = ['tools/call', 'tools/list', 'ping', 'resources/read', 'prompts/get'];
/** Method strings as a parsed message holds them: fresh strings, not the literals above. */
const parsed = Array.from({ length: BATCH }, (_, i) => (JSON.parse(`{"method":"${METHODS[i % METHODS.length]!}"}`) as { method: string }).method);
const seconds = Array.from({ length: BATCH }, (_, i) => ((i * 7919) % 2000) / 1e5);

const before = new ServerMetrics();
const now = new ServerMetrics();
const snap = new ServerMetrics();
for (let i = 0; i < 20; i++) for (let j = 0; j < 100; j++) snap.observeRequest(`method/${i}`, j / 1e4);

const noopTracer = {
  startSpan: () => trace.wrapSpanContext(INVALID_SPAN_CONTEXT),
  startActiveSpan: () => {
    throw new Error('not used');
  },
} as unknown as Tracer;
trace.setGlobalTracerProvider({ getTracer: () => noopTracer });
const tracer = (await loadTracing()).current();
if (tracer === undefined) throw new Error('the no-op tracer provider was not picked up');
const params = { name: 'echo', arguments: { text: 'hi' } };
const reply = '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}';

const load0 = loadavg();
const bench = new Bench({ time: 1500, warmupTime: 300 });
bench
  .add(`requestLatency.observe × ${BATCH} (before)`, () => {
    for (let i = 0; i < BATCH; i++) before.requestLatency.observe(seconds[i]!);
  })
  .add(`observeRequest(method) × ${BATCH} (now)`, () => {
    for (let i = 0; i < BATCH; i++) now.observeRequest(parsed[i]!, seconds[i]!);
  })
  .add(`request span begin + run + end, no-op tracer × ${BATCH}`, () => {
    for (let i = 0; i < BATCH; i++) {
      const s = tracer.begin('tools/call', i, params, 'session');
      tracer.run(s, () => 0);
      tracer.end(s, reply);
    }
  })
  .add('metrics.snapshot() × 1, 20 methods (once a second)', () => {
    snap.snapshot();
  });

await bench.run();
const rows: string[] = [];
for (const t of bench.tasks) {
  const r = t.result as { latency?: { mean: number }; mean?: number } | undefined;
  const meanMs = r?.latency?.mean ?? r?.mean ?? NaN;
  const per = t.name.includes(`× ${BATCH}`) ? (meanMs * 1e6) / BATCH : meanMs * 1e6;
  rows.push(`| ${t.name} | ${per.toFixed(1)} | ${t.name.includes(`× ${BATCH}`) ? 'per request' : 'per call'} |`);
}
const load1 = loadavg();
const la = (l: number[]): string => l.map((x) => x.toFixed(2)).join(', ');
const out = [
  `# Observability on the request path, ${new Date().toISOString()}`,
  '',
  `Command: \`node dist-bench/bench/micro-observe.js\`, Node ${process.version}. In process (tinybench, 1.5 s per task after 0.3 s warm-up, mean). Load average (1, 5, 15 min) at the start: ${la(load0)}; at the end: ${la(load1)}.`,
  '',
  '| row | ns | unit |',
  '|---|---:|---|',
  ...rows,
  '',
].join('\n');
process.stdout.write(out);
const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `micro-observe-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z.md`;
writeFileSync(dir + file, out);
process.stdout.write(`wrote bench/results/${file}\n`);
