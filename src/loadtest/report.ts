/**
 * The human summary of a run (stderr-free text for stdout) and the
 * machine-readable form printed by `--json`.
 */
import type { BenchResult } from './runner.js';

function num(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function ms(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/** One line describing the load, e.g. "10 connections × 1 in flight, tools/call, 200 B, 10 s, 1 worker". */
export function describeLoad(r: BenchResult): string {
  const o = r.options;
  const shape = o.rate === undefined ? `${o.connections} connections × ${o.concurrency} in flight` : `${o.connections} connections, open loop at ${num(o.rate)} req/s`;
  const bound = o.messages !== undefined ? `${num(o.messages)} requests` : `${o.durationSeconds} s`;
  const extras = [o.warmupSeconds > 0 ? `${o.warmupSeconds} s warm-up` : '', o.rampSeconds > 0 ? `${o.rampSeconds} s ramp` : '']
    .filter((x) => x !== '')
    .join(', ');
  return `${shape}, ${o.method}, ${r.requestBytes} B requests, ${bound}${extras ? `, ${extras}` : ''}, ${o.workers} worker${o.workers === 1 ? '' : 's'}`;
}

/** The summary printed at the end of `mcp-ws bench`. */
export function formatSummary(r: BenchResult): string {
  const l = r.latencyMs;
  const lines = [
    `mcp-ws bench ${r.url} (${r.transport}, ${r.mode})`,
    `  load         ${describeLoad(r)}`,
    `  connections  ${num(r.connections.opened)} opened, ${num(r.connections.failed)} failed${r.connections.lost > 0 ? `, ${num(r.connections.lost)} lost` : ''}`,
    `  requests     ${num(r.requests.ok)} ok, ${num(r.requests.error)} error, ${num(r.requests.timeout)} timeout (of ${num(r.requests.sent)} sent)`,
    `  throughput   ${num(r.throughput)} req/s over ${r.windowSeconds.toFixed(1)} s`,
    `  latency ms   p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  p99.9 ${ms(l.p999)}  max ${ms(l.max)}${r.mode === 'open-loop' ? '  (from intended send times)' : ''}`,
    `  generator    CPU ${r.generatorCpuPercent.toFixed(0)} % of one core`,
  ];
  if (r.sendLagMs !== undefined) {
    const g = r.sendLagMs;
    lines.push(`  send lag ms  p50 ${ms(g.p50)}  p99 ${ms(g.p99)}  max ${ms(g.max)}  (generator behind its schedule; included in latency)`);
  }
  if (r.firstError !== undefined) lines.push(`  first error  ${r.firstError}`);
  return `${lines.join('\n')}\n`;
}

/** The `--json` document: the result, without the resolved headers (they may carry credentials). */
export function toJson(r: BenchResult): string {
  const { headers, ...options } = r.options;
  return `${JSON.stringify({ ...r, options: { ...options, headers: Object.keys(headers) } }, null, 2)}\n`;
}
