/**
 * `--html FILE`: one self-contained page (inline SVG and CSS, no script, no
 * external asset) with the summary, the latency-by-percentile curve (the
 * HdrHistogram plot: the x axis stretches the tail, 90 % → 99 % → 99.9 % at
 * equal steps) and successful answers per second over the run.
 */
import type { BenchResult } from './runner.js';
import { describeLoad } from './report.js';

const W = 720;
const H = 320;
const PAD = { left: 64, right: 36, top: 20, bottom: 44 };

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function fmt(n: number): string {
  if (n === 0) return '0';
  if (n >= 1000) return Math.round(n).toLocaleString('en-US');
  if (n >= 10) return n.toFixed(0);
  if (n >= 1) return n.toFixed(1);
  return n.toFixed(2);
}

/** A "nice" axis maximum and step: 1, 2 or 5 × 10^k. */
function niceScale(max: number, ticks = 5): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 };
  const raw = max / ticks;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { top: Math.ceil(max / step) * step, step };
}

function frame(id: string, title: string, body: string, xLabel: string, yLabel: string): string {
  const x0 = PAD.left;
  const y0 = H - PAD.bottom;
  return `<figure>
<figcaption>${esc(title)}</figcaption>
<svg id="${id}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">
<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>
<line x1="${x0}" y1="${PAD.top}" x2="${x0}" y2="${y0}" class="axis"/>
<line x1="${x0}" y1="${y0}" x2="${W - PAD.right}" y2="${y0}" class="axis"/>
${body}
<text x="${(x0 + W - PAD.right) / 2}" y="${H - 6}" text-anchor="middle" class="label">${esc(xLabel)}</text>
<text x="14" y="${(PAD.top + y0) / 2}" text-anchor="middle" class="label" transform="rotate(-90 14 ${(PAD.top + y0) / 2})">${esc(yLabel)}</text>
</svg>
</figure>`;
}

function yGrid(top: number, step: number, scaleY: (v: number) => number): string {
  let out = '';
  for (let v = 0; v <= top + step / 2; v += step) {
    const y = scaleY(v).toFixed(1);
    out += `<line x1="${PAD.left}" y1="${y}" x2="${W - PAD.right}" y2="${y}" class="grid"/>`;
    out += `<text x="${PAD.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" class="tick">${fmt(v)}</text>`;
  }
  return out;
}

function latencyChart(r: BenchResult): string {
  const points = r.distribution.filter((d) => d.percentile < 100);
  const toX = (p: number): number => -Math.log10(1 - p / 100);
  const maxX = Math.max(3, Math.ceil(points.length > 0 ? toX(points[points.length - 1]!.percentile) : 3));
  const maxMs = Math.max(r.latencyMs.p999, ...points.map((d) => d.ms), 0.01);
  const { top, step } = niceScale(maxMs);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const sx = (x: number): number => PAD.left + (x / maxX) * plotW;
  const sy = (v: number): number => PAD.top + plotH - (Math.min(v, top) / top) * plotH;
  let body = yGrid(top, step, sy);
  for (let k = 0; k <= maxX; k++) {
    const label = k === 0 ? '0%' : `${(100 * (1 - Math.pow(10, -k))).toFixed(Math.max(0, k - 2))}%`;
    const x = sx(k).toFixed(1);
    body += `<line x1="${x}" y1="${PAD.top}" x2="${x}" y2="${H - PAD.bottom}" class="grid"/>`;
    body += `<text x="${x}" y="${H - PAD.bottom + 16}" text-anchor="middle" class="tick">${label}</text>`;
  }
  if (points.length > 0) {
    const path = points.map((d) => `${sx(toX(d.percentile)).toFixed(1)},${sy(d.ms).toFixed(1)}`).join(' ');
    body += `<polyline points="${path}" class="line"/>`;
    for (const d of points) {
      body += `<circle cx="${sx(toX(d.percentile)).toFixed(1)}" cy="${sy(d.ms).toFixed(1)}" r="2.5" class="dot"><title>p${d.percentile.toFixed(4)}: ${d.ms.toFixed(3)} ms</title></circle>`;
    }
  } else {
    body += `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="label">no successful answers</text>`;
  }
  return frame('latency-chart', 'Latency by percentile', body, 'percentile', 'latency (ms)');
}

function throughputChart(r: BenchResult): string {
  const series = r.perSecond;
  const { top, step } = niceScale(Math.max(1, ...series));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const n = Math.max(1, series.length);
  const bw = plotW / n;
  const sy = (v: number): number => PAD.top + plotH - (v / top) * plotH;
  let body = yGrid(top, step, sy);
  series.forEach((v, i) => {
    const y = sy(v);
    body += `<rect x="${(PAD.left + i * bw + bw * 0.1).toFixed(1)}" y="${y.toFixed(1)}" width="${(bw * 0.8).toFixed(1)}" height="${(PAD.top + plotH - y).toFixed(1)}" class="bar"><title>second ${i + 1}: ${v} answers</title></rect>`;
  });
  const every = Math.max(1, Math.ceil(n / 12));
  for (let i = 0; i < n; i += every) {
    body += `<text x="${(PAD.left + (i + 0.5) * bw).toFixed(1)}" y="${H - PAD.bottom + 16}" text-anchor="middle" class="tick">${i + 1}</text>`;
  }
  return frame('throughput-chart', 'Successful answers per second', body, 'second of the measured window', 'answers / s');
}

/** Renders the report page. */
export function renderHtml(r: BenchResult): string {
  const l = r.latencyMs;
  const rows: Array<[string, string]> = [
    ['target', r.url],
    ['transport', `${r.transport}, ${r.mode}`],
    ['load', describeLoad(r)],
    ['started', r.startedAt],
    ['connections', `${r.connections.opened} opened, ${r.connections.failed} failed, ${r.connections.lost} lost`],
    ['requests', `${r.requests.ok} ok, ${r.requests.error} error, ${r.requests.timeout} timeout (of ${r.requests.sent} sent)`],
    ['throughput', `${fmt(r.throughput)} req/s over ${r.windowSeconds.toFixed(1)} s`],
    ['latency (ms)', `p50 ${l.p50} · p90 ${l.p90} · p99 ${l.p99} · p99.9 ${l.p999} · max ${l.max}`],
    ['generator CPU', `${r.generatorCpuPercent.toFixed(0)} % of one core`],
  ];
  if (r.sendLagMs !== undefined) {
    rows.push(['send lag (ms)', `p50 ${r.sendLagMs.p50} · p99 ${r.sendLagMs.p99} · max ${r.sendLagMs.max} (generator behind its schedule)`]);
  }
  if (r.firstError !== undefined) rows.push(['first error', r.firstError]);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mcp-ws bench: ${esc(r.url)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 18px; }
table { border-collapse: collapse; margin-bottom: 16px; }
th, td { text-align: left; padding: 3px 12px 3px 0; vertical-align: top; }
th { color: #555; font-weight: 600; }
figure { margin: 16px 0; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg .axis { stroke: #333; stroke-width: 1; }
svg .grid { stroke: #e3e3e3; stroke-width: 1; }
svg .tick { font-size: 11px; fill: #555; }
svg .label { font-size: 12px; fill: #333; }
svg .line { fill: none; stroke: #1f6fb2; stroke-width: 2; }
svg .dot { fill: #1f6fb2; }
svg .bar { fill: #3b8e5a; }
</style>
</head>
<body>
<h1>mcp-ws bench</h1>
<table id="summary">
${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n')}
</table>
${latencyChart(r)}
${throughputChart(r)}
</body>
</html>
`;
}
