/**
 * The one way modules declare metrics read at scrape time (the server's
 * `metrics` option, createRegistry's `extra`): a counter or gauge of one
 * number, one sample per label value, or a histogram family. The LLM,
 * compression and gateway metrics are built with these, so a family's
 * samples are shaped the same everywhere.
 */
import type { ExtraMetric, LatencyHistogram, MetricValue } from './metrics.js';

/** A counter of one unlabelled number. */
export function counter(name: string, help: string, read: () => number): ExtraMetric {
  return { name, help, type: 'counter', read: () => [{ value: read() }] };
}

/** A gauge of one unlabelled number. */
export function gauge(name: string, help: string, read: () => number): ExtraMetric {
  return { name, help, type: 'gauge', read: () => [{ value: read() }] };
}

/** One sample per value of `keys`, labelled `label` (errors by kind, bytes by codec, …). */
export function byLabel<K extends string>(
  type: 'counter' | 'gauge',
  name: string,
  help: string,
  label: string,
  keys: readonly K[],
  read: (key: K) => number,
): ExtraMetric {
  return { name, help, type, read: () => keys.map((k) => ({ labels: { [label]: k }, value: read(k) })) };
}

/** A histogram family: the buckets, sum and count of every (labelled) histogram `read` gives. */
export function histogram(name: string, help: string, read: () => Iterable<{ readonly labels?: Record<string, string>; readonly h: LatencyHistogram }>): ExtraMetric {
  return {
    name,
    help,
    type: 'histogram',
    read: () => {
      const out: MetricValue[] = [];
      for (const { labels, h } of read()) histogramSamples(name, h, labels ?? {}, out);
      return out;
    },
  };
}

/** The cumulative `_bucket`, `_sum` and `_count` samples of `h`, appended to `out`. */
export function histogramSamples(name: string, h: LatencyHistogram, labels: Record<string, string>, out: MetricValue[]): void {
  let cumulative = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i]!;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: h.bounds[i]! }, value: cumulative });
  }
  cumulative += h.counts[h.bounds.length]!;
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
}
