/**
 * /metrics keeps its exposition: the text of the server's own metrics and
 * of extra metrics is compared line for line with a scrape written before
 * the text was produced here (fixtures/scrape-before.txt), and a live
 * server's scrape keeps the families, types and label names of the one in
 * fixtures/scrape-shape-before.txt.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compressionMetrics } from '../../src/compression/metrics.js';
import { LatencyHistogram, ServerMetrics, createRegistry, type ExtraMetric } from '../../src/metrics/metrics.js';
import { RateLimiter } from '../../src/ratelimit/limiter.js';
import { closeAll, startServer } from '../helpers.js';

afterAll(closeAll);

const fixture = (name: string): string => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');

/** The metrics the fixture was written from: fixed values, escapes, a labelled histogram, an empty family. */
function sample(): { m: ServerMetrics; extra: ExtraMetric[] } {
  const m = new ServerMetrics();
  m.connectionsActive = 3;
  m.connectionsOpened = 7;
  m.messagesReceived = 11;
  m.messagesSent = 13;
  m.bytesReceived = 1234;
  m.bytesSent = 5678;
  m.requestsInFlight = 2;
  for (const s of [0.0005, 0.003, 0.02, 0.7, 20]) m.requestLatency.observe(s);
  m.errors.parse = 1;
  m.errors.rate_limited = 4;
  m.rejected.origin = 2;
  const h = new LatencyHistogram([0.01, 0.1]);
  h.observe(0.05);
  h.observe(1);
  const limiter = new RateLimiter({ maxRequestsPerSecond: 10, maxBurst: 1, clock: () => 0 });
  const extra: ExtraMetric[] = [
    ...limiter.metrics(),
    ...compressionMetrics(),
    {
      name: 'x_labelled',
      help: 'Help with \\ backslash and\nnewline',
      type: 'gauge',
      read: () => [
        { labels: { upstream: 'a"b\\c\nd' }, value: 1.5 },
        { labels: { upstream: 'plain' }, value: -2 },
      ],
    },
    {
      name: 'x_hist',
      help: 'A labelled histogram',
      type: 'histogram',
      read: () => {
        const out: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
        let c = 0;
        for (let i = 0; i < h.bounds.length; i++) {
          c += h.counts[i]!;
          out.push({ metricName: 'x_hist_bucket', labels: { upstream: 'a', le: h.bounds[i]! }, value: c });
        }
        c += h.counts[h.bounds.length]!;
        out.push({ metricName: 'x_hist_bucket', labels: { upstream: 'a', le: '+Inf' }, value: c });
        out.push({ metricName: 'x_hist_sum', labels: { upstream: 'a' }, value: h.sum });
        out.push({ metricName: 'x_hist_count', labels: { upstream: 'a' }, value: h.count });
        return out;
      },
    },
    { name: 'x_empty', help: 'No series', type: 'counter', read: () => [] },
  ];
  return { m, extra };
}

/** One line per family: name, type and, for mcp_ws_*, each sample name with its label names. */
function shape(text: string): string {
  const fams = new Map<string, { type: string; labels: Set<string> }>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) {
      fams.set(t[1]!, { type: t[2]!, labels: new Set() });
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (!s) throw new Error(`not a sample line: ${line}`);
    const name = s[1]!;
    const fam = [...fams.keys()].filter((f) => name === f || name.startsWith(`${f}_`)).sort((a, b) => b.length - a.length)[0];
    if (fam === undefined) throw new Error(`sample before its TYPE line: ${line}`);
    const keys = [...(s[2] ?? '').matchAll(/([a-zA-Z_]\w*)="/g)].map((x) => x[1]).join(',');
    fams.get(fam)!.labels.add(`${name}{${keys}}`);
  }
  return [...fams]
    .map(([name, f]) => `${name} ${f.type} ${name.startsWith('mcp_ws_') ? [...f.labels].sort().join(' ') : ''}`.trimEnd())
    .join('\n');
}

describe('/metrics exposition', () => {
  it('writes the same text as before for server and extra metrics (names, help, types, labels, escapes, values)', async () => {
    const { m, extra } = sample();
    const text = await createRegistry(m, { defaultMetrics: false, extra }).metrics();
    expect(text).toBe(fixture('scrape-before.txt'));
  });

  it('gives one family through getSingleMetricAsString, and the default metrics after its own', async () => {
    const { m, extra } = sample();
    const reg = createRegistry(m, { extra });
    expect(await reg.getSingleMetricAsString('mcp_ws_errors_total')).toMatch(/^# HELP mcp_ws_errors_total .*\n# TYPE mcp_ws_errors_total counter\n/);
    expect(await reg.getSingleMetricAsString('mcp_ws_errors_total')).toMatch(/^mcp_ws_errors_total\{kind="rate_limited"\} 4$/m);
    const text = await reg.metrics();
    expect(text.startsWith(fixture('scrape-before.txt') + '\n# HELP process_cpu_user_seconds_total')).toBe(true);
    expect(text.endsWith('\n')).toBe(true);
    expect(text).not.toContain('\n\n\n');
  });

  it('refuses two metrics of one name, as before', () => {
    const m = new ServerMetrics();
    const dup: ExtraMetric = { name: 'mcp_ws_errors_total', help: 'x', type: 'counter', read: () => [] };
    expect(() => createRegistry(m, { defaultMetrics: false, extra: [dup] })).toThrow(/already been registered/);
  });

  it('a live server scrape keeps the families, types and label names', async () => {
    const { base } = await startServer({ processMetrics: true, rateLimit: { maxRequestsPerSecond: 100 }, compression: {} });
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(shape(await res.text())).toBe(fixture('scrape-shape-before.txt').trimEnd());
  });
});
