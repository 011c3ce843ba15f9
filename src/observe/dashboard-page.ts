/**
 * The dashboard page: HTML and its script, served from /dashboard. No CDN
 * and no inline script (the page's Content-Security-Policy allows scripts
 * from its own origin only): uPlot comes from the installed package at
 * /dashboard/uPlot.min.js, this script from /dashboard/app.js. It reads the
 * snapshot stream at /dashboard/events (one event a second, shared by every
 * viewer) and keeps the last ten minutes of points. Panels of optional
 * subsystems (LLM streams, cluster workers, the backplane) appear only when
 * the snapshot carries them.
 */

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mcp-ws dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/uPlot.min.css">
<style>
  body { font: 14px system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
  h1 { font-size: 18px; margin: 0 0 4px; }
  #status { color: #666; margin-bottom: 12px; }
  #status.down { color: #b00; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; margin-bottom: 12px; }
  .tile { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
  .tile .v { font-size: 20px; font-weight: 600; }
  .tile .k { color: #666; font-size: 12px; }
  .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 12px; }
  .chart { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
  .chart h2, section h2 { font-size: 14px; margin: 0 0 6px; }
  table { border-collapse: collapse; background: #fff; margin-top: 6px; }
  td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
  td:first-child, th:first-child { text-align: left; }
  section { margin-top: 16px; }
</style>
</head>
<body>
<h1>mcp-ws</h1>
<div id="status">connecting…</div>
<div class="tiles" id="tiles"></div>
<div class="charts">
  <div class="chart"><h2>Connections</h2><div id="c-conn"></div></div>
  <div class="chart"><h2>Messages per second</h2><div id="c-msg"></div></div>
  <div class="chart"><h2>Request latency (ms, per interval)</h2><div id="c-lat"></div></div>
  <div class="chart"><h2>Errors and rate-limited requests per second</h2><div id="c-err"></div></div>
  <div class="chart"><h2>Event-loop delay p99 (ms) and CPU (%)</h2><div id="c-loop"></div></div>
  <div class="chart"><h2>Memory (MiB)</h2><div id="c-mem"></div></div>
  <div class="chart" id="llm-chart" hidden><h2>LLM streams: open, and text deltas relayed per second</h2><div id="c-llm"></div></div>
</div>
<section><h2>Slowest methods (p99)</h2><table id="slow"><thead><tr><th>method</th><th>requests</th><th>mean ms</th><th>p50 ms</th><th>p99 ms</th></tr></thead><tbody></tbody></table></section>
<section><h2>Errors by kind (since start)</h2><table id="errors"><thead><tr><th>kind</th><th>count</th></tr></thead><tbody></tbody></table></section>
<section id="upstreams-section" hidden><h2>Upstreams</h2><table id="upstreams"><thead><tr><th>upstream</th><th>active</th><th>idle</th><th>requests</th><th>retries</th><th>breaker</th></tr></thead><tbody></tbody></table></section>
<section id="cluster-section" hidden><h2>Workers</h2><table id="cluster"><thead><tr><th>workers serving</th><th>workers kept</th><th>draining</th><th>this snapshot from pid</th></tr></thead><tbody></tbody></table></section>
<section id="llm-section" hidden><h2>LLM streams (since start)</h2><table id="llm"><thead><tr><th>open</th><th>started</th><th>deltas relayed</th><th>output tokens</th><th>cancelled</th><th>errors</th><th>retries</th><th>paused for slow clients</th></tr></thead><tbody></tbody></table></section>
<section id="extra-section" hidden><h2>Subsystems</h2><table id="extra"><thead><tr><th>metric</th><th>value</th></tr></thead><tbody></tbody></table></section>
<script src="/dashboard/uPlot.min.js"></script>
<script src="/dashboard/app.js"></script>
</body>
</html>
`;

export const DASHBOARD_JS = `'use strict';
(function () {
  var KEEP = 600;
  var MiB = 1024 * 1024;
  var series = {
    t: [], conn: [], http: [], msgIn: [], msgOut: [], p50: [], p99: [], err: [], rl: [], loop: [], cpu: [], rss: [], heap: [], llmOpen: [], llmDeltas: []
  };
  var charts = [];
  function chart(id, labels, keys, colors) {
    var el = document.getElementById(id);
    var opts = {
      width: Math.max(300, el.clientWidth || 440), height: 180,
      series: [{}].concat(labels.map(function (l, i) { return { label: l, stroke: colors[i], width: 1.5 }; })),
      axes: [{}, { size: 60 }],
      legend: { show: true }
    };
    var u = new uPlot(opts, [[]].concat(keys.map(function () { return []; })), el);
    charts.push({ u: u, keys: keys });
  }
  chart('c-conn', ['WebSocket sessions', 'HTTP sessions'], ['conn', 'http'], ['#1f77b4', '#ff7f0e']);
  chart('c-msg', ['in', 'out'], ['msgIn', 'msgOut'], ['#2ca02c', '#9467bd']);
  chart('c-lat', ['p50', 'p99'], ['p50', 'p99'], ['#17becf', '#d62728']);
  chart('c-err', ['errors', 'rate-limited'], ['err', 'rl'], ['#d62728', '#bcbd22']);
  chart('c-loop', ['loop p99 ms', 'CPU %'], ['loop', 'cpu'], ['#8c564b', '#e377c2']);
  chart('c-mem', ['RSS', 'heap used'], ['rss', 'heap'], ['#7f7f7f', '#1f77b4']);
  chart('c-llm', ['open', 'deltas /s'], ['llmOpen', 'llmDeltas'], ['#ff7f0e', '#2ca02c']);
  var prevLlm = null;

  function fmt(n, d) {
    if (n === null || n === undefined || !isFinite(n)) return '–';
    return Number(n).toLocaleString(undefined, { maximumFractionDigits: d === undefined ? 1 : d });
  }
  function tile(k, v) {
    var d = document.createElement('div');
    d.className = 'tile';
    var vv = document.createElement('div'); vv.className = 'v'; vv.textContent = v;
    var kk = document.createElement('div'); kk.className = 'k'; kk.textContent = k;
    d.appendChild(vv); d.appendChild(kk);
    return d;
  }
  function rows(id, list) {
    var body = document.querySelector('#' + id + ' tbody');
    while (body.firstChild) body.removeChild(body.firstChild);
    list.forEach(function (cells) {
      var tr = document.createElement('tr');
      cells.forEach(function (c) { var td = document.createElement('td'); td.textContent = String(c); tr.appendChild(td); });
      body.appendChild(tr);
    });
  }
  function push(key, v) {
    var a = series[key];
    a.push(v === undefined || v === null ? null : v);
    if (a.length > KEEP) a.shift();
  }
  function render(s) {
    var r = s.rates || {};
    push('t', s.time / 1000);
    push('conn', s.connectionsActive); push('http', s.httpSessionsActive);
    push('msgIn', r.messagesInPerSec); push('msgOut', r.messagesOutPerSec);
    push('p50', r.p50Ms); push('p99', r.p99Ms);
    push('err', r.errorsPerSec); push('rl', r.rateLimitedPerSec);
    push('loop', s.eventLoopDelay ? s.eventLoopDelay.p99Ms : null); push('cpu', s.process.cpuPercent);
    push('rss', s.process.rssBytes / MiB); push('heap', s.process.heapUsedBytes / MiB);
    var x = s.extra || {};
    var llm = x.mcp_ws_llm_streams_active !== undefined;
    var deltas = null;
    if (llm && prevLlm) deltas = Math.max(0, (x.mcp_ws_llm_deltas_relayed_total - prevLlm.d) / Math.max(0.001, (s.time - prevLlm.t) / 1000));
    prevLlm = llm ? { d: x.mcp_ws_llm_deltas_relayed_total, t: s.time } : null;
    push('llmOpen', llm ? x.mcp_ws_llm_streams_active : null); push('llmDeltas', deltas);
    var llmChart = document.getElementById('llm-chart');
    if (llmChart.hidden === llm) {
      llmChart.hidden = !llm;
      window.dispatchEvent(new Event('resize'));
    }
    charts.forEach(function (c) {
      c.u.setData([series.t].concat(c.keys.map(function (k) { return series[k]; })));
    });
    var tiles = document.getElementById('tiles');
    while (tiles.firstChild) tiles.removeChild(tiles.firstChild);
    var errTotal = 0;
    Object.keys(s.errors).forEach(function (k) { errTotal += s.errors[k]; });
    [
      ['connections', fmt(s.connectionsActive, 0)],
      ['messages in /s', fmt(r.messagesInPerSec)],
      ['messages out /s', fmt(r.messagesOutPerSec)],
      ['requests', fmt(s.requests, 0)],
      ['p50 ms (since start)', fmt(s.latency.p50Ms, 2)],
      ['p99 ms (since start)', fmt(s.latency.p99Ms, 2)],
      ['in flight', fmt(s.requestsInFlight, 0)],
      ['errors', fmt(errTotal, 0)],
      ['rate-limited', fmt(s.errors.rate_limited, 0)],
      ['compression out/in', s.compressionRatio === null ? '–' : fmt(s.compressionRatio, 3)],
      ['event loop p99 ms', s.eventLoopDelay ? fmt(s.eventLoopDelay.p99Ms, 1) : '–'],
      ['tracing', s.tracing ? 'on' : 'off']
    ].concat(s.cluster ? [['workers', s.cluster.up + ' / ' + s.cluster.total]] : [])
     .concat(llm ? [['LLM streams open', fmt(x.mcp_ws_llm_streams_active, 0)]] : [])
     .concat(x.mcp_ws_backplane_up !== undefined ? [['backplane', x.mcp_ws_backplane_up >= 1 ? 'up' : 'down']] : [])
     .forEach(function (t) { tiles.appendChild(tile(t[0], t[1])); });
    rows('slow', s.slowest.map(function (m) { return [m.method, fmt(m.count, 0), fmt(m.meanMs, 2), fmt(m.p50Ms, 2), fmt(m.p99Ms, 2)]; }));
    rows('errors', Object.keys(s.errors).filter(function (k) { return s.errors[k] > 0; }).map(function (k) { return [k, fmt(s.errors[k], 0)]; }));
    var ups = s.handler && Array.isArray(s.handler.upstreams) ? s.handler.upstreams : null;
    document.getElementById('upstreams-section').hidden = !ups;
    if (ups) rows('upstreams', ups.map(function (u) {
      var b = u.breaker && typeof u.breaker === 'object' ? (u.breaker.state || JSON.stringify(u.breaker)) : String(u.breaker);
      return [u.name, fmt(u.active, 0), fmt(u.idle, 0), fmt(u.requests, 0), fmt(u.retries, 0), b];
    }));
    document.getElementById('cluster-section').hidden = !s.cluster;
    if (s.cluster) rows('cluster', [[fmt(s.cluster.up, 0), fmt(s.cluster.total, 0), s.cluster.draining ? 'yes' : 'no', s.process.pid]]);
    document.getElementById('llm-section').hidden = !llm;
    if (llm) rows('llm', [[fmt(x.mcp_ws_llm_streams_active, 0), fmt(x.mcp_ws_llm_streams_total, 0), fmt(x.mcp_ws_llm_deltas_relayed_total, 0), fmt(x.mcp_ws_llm_output_tokens_total, 0), fmt(x.mcp_ws_llm_streams_cancelled_total, 0), fmt(x.mcp_ws_llm_errors_total, 0), fmt(x.mcp_ws_llm_retries_total, 0), fmt(x.mcp_ws_llm_paused_total, 0)]]);
    var extra = Object.keys(s.extra || {});
    document.getElementById('extra-section').hidden = extra.length === 0;
    rows('extra', extra.map(function (k) { return [k, fmt(s.extra[k], 2)]; }));
    var st = document.getElementById('status');
    st.className = '';
    st.textContent = 'live · pid ' + s.process.pid + ' · up ' + s.process.uptimeSec + ' s · ' + new Date(s.time).toLocaleTimeString() + (s.draining ? ' · draining' : '');
  }
  var es = new EventSource('/dashboard/events');
  es.onmessage = function (ev) {
    try { render(JSON.parse(ev.data)); } catch (e) { document.getElementById('status').textContent = 'bad snapshot: ' + e.message; }
  };
  es.onerror = function () {
    var st = document.getElementById('status');
    st.className = 'down';
    st.textContent = 'disconnected; retrying…';
  };
  window.addEventListener('resize', function () {
    charts.forEach(function (c) { var w = c.u.root.parentNode.clientWidth; if (w > 0) c.u.setSize({ width: w - 16, height: 180 }); });
  });
})();
`;
