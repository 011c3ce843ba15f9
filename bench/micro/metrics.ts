/**
 * Group `metrics`: the server's hot-path counters (ServerMetrics: plain
 * numbers read by prom-client at scrape time) beside prom-client's own
 * Counter.inc and Histogram.observe. Seed (cargo bench metrics, a faster
 * desktop CPU): increment_connections 9.2 M ops/s (108 ns), increment_messages
 * 8.7 M (115 ns), observe_latency 6.1 M (164 ns). Target: ≥ 20 M ops/s each.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { LATENCY_BUCKETS, ServerMetrics } from '../../src/metrics/metrics.js';
import type { MicroGroup } from './group.js';

const BATCH = 10_000;

/** Realistic request latencies in seconds (0.1 ms … ~60 ms, skewed low), fixed seed. */
function latencies(n: number): Float64Array {
  const out = new Float64Array(n);
  let x = 0x2545f491;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const u = (x >>> 0) / 0x1_0000_0000;
    out[i] = 0.0001 * Math.exp(u * u * 6.4);
  }
  return out;
}

const samples = latencies(BATCH);
const m = new ServerMetrics();
const registry = new Registry();
const promCounter = new Counter({ name: 'bench_messages_total', help: 'bench', registers: [registry] });
const promHistogram = new Histogram({
  name: 'bench_latency_seconds',
  help: 'bench',
  buckets: [...LATENCY_BUCKETS],
  registers: [registry],
});

const group: MicroGroup = {
  title: 'metrics hot path (ServerMetrics) vs prom-client',
  targetOpsPerSecond: 20e6,
  cases: [
    {
      name: 'increment_connections',
      opsPerCall: BATCH,
      seed: { opsPerSecond: 9.2e6, nsPerOp: 108 },
      run: () => {
        for (let i = 0; i < BATCH; i++) m.connectionsActive++;
        return m.connectionsActive;
      },
    },
    {
      name: 'increment_messages',
      opsPerCall: BATCH,
      seed: { opsPerSecond: 8.7e6, nsPerOp: 115 },
      run: () => {
        for (let i = 0; i < BATCH; i++) m.messagesReceived++;
        return m.messagesReceived;
      },
    },
    {
      name: 'observe_latency',
      opsPerCall: BATCH,
      seed: { opsPerSecond: 6.1e6, nsPerOp: 164 },
      run: () => {
        const h = m.requestLatency;
        for (let i = 0; i < BATCH; i++) h.observe(samples[i]!);
        return h.count;
      },
    },
    {
      name: 'prom-client Counter.inc',
      opsPerCall: BATCH,
      reference: true,
      run: () => {
        for (let i = 0; i < BATCH; i++) promCounter.inc();
        return BATCH;
      },
    },
    {
      name: 'prom-client Histogram.observe',
      opsPerCall: BATCH,
      reference: true,
      run: () => {
        for (let i = 0; i < BATCH; i++) promHistogram.observe(samples[i]!);
        return BATCH;
      },
    },
  ],
  async check() {
    // Every increment and observation must have happened, in whole batches.
    if (m.connectionsActive === 0 || m.connectionsActive % BATCH !== 0) throw new Error('increment_connections did not run');
    if (m.messagesReceived === 0 || m.messagesReceived % BATCH !== 0) throw new Error('increment_messages did not run');
    const h = m.requestLatency;
    const counted = h.counts.reduce((a, b) => a + b, 0);
    if (h.count === 0 || counted !== h.count || !(h.sum > 0)) throw new Error('observe_latency did not run');
    const inc = (await promCounter.get()).values[0]?.value ?? 0;
    if (inc === 0 || inc % BATCH !== 0) throw new Error('prom-client Counter.inc did not run');
    const observed = (await promHistogram.get()).values.find((v) => v.metricName === 'bench_latency_seconds_count')?.value ?? 0;
    if (observed === 0) throw new Error('prom-client Histogram.observe did not run');
  },
};

export default group;
