/**
 * deploy/prometheus/alerts.yml and deploy/grafana/mcp-ws.json against the
 * real tools and a real server: promtool checks the rules and runs their
 * unit tests (series that fire each alert and series that do not), and
 * every metric name the dashboard and the alerts query is one a live
 * gateway-fronting server exports at /metrics.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { closeAll, fixtureUpstream, startGateway } from '../gateway/helpers.js';
import { LlmMetrics, llmMetrics } from '../../src/llm/metrics.js';

/**
 * Families a single in-process server cannot export, each proven elsewhere:
 * the cluster's are written by the primary of `--workers N`
 * (test/cluster/cluster.test.ts scrapes them); the backplane's gauge comes
 * with the cross-instance backplane, when it is configured. Their panels
 * and alerts show nothing (and never fire) on an instance without them.
 */
const OPTIONAL = new Set(['mcp_ws_cluster_workers', 'mcp_ws_cluster_workers_desired', 'mcp_ws_cluster_worker_restarts_total', 'mcp_ws_cluster_scrape_missing', 'mcp_ws_backplane_up']);
import { httpBase, scrape } from '../helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const rules = `${root}deploy/prometheus/alerts.yml`;
const ruleTests = `${root}deploy/prometheus/alerts.test.yml`;
const dashboard = `${root}deploy/grafana/mcp-ws.json`;

const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
const requirePromtool = process.env.REQUIRE_PROMTOOL === '1' || (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false');

afterAll(closeAll);

/** Every PromQL expression of the dashboard's panels. */
function dashboardExprs(): string[] {
  const d = JSON.parse(readFileSync(dashboard, 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }>; templating: { list: Array<{ definition?: string }> } };
  const out: string[] = [];
  for (const p of d.panels) for (const t of p.targets ?? []) out.push(t.expr);
  for (const v of d.templating.list) if (v.definition) out.push(v.definition);
  return out;
}

/** The `expr:` values of the rule file (folded scalars joined). */
function ruleExprs(): string[] {
  const text = readFileSync(rules, 'utf8');
  const out: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)expr:\s*(.*)$/.exec(lines[i]!);
    if (!m) continue;
    if (m[2] !== '>-' && m[2] !== '|') {
      out.push(m[2]!);
      continue;
    }
    const parts: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || lines[i + 1]!.search(/\S/) > m[1]!.length)) parts.push(lines[++i]!.trim());
    out.push(parts.join(' '));
  }
  return out;
}

/** Metric names in PromQL: identifiers of our families and the process ones, not functions or labels. */
function metricNames(exprs: string[]): Set<string> {
  const names = new Set<string>();
  for (const e of exprs) for (const m of e.matchAll(/\b((?:mcp_ws|process|nodejs)_[a-z0-9_]+)\b/g)) names.add(m[1]!);
  return names;
}

describe('alert rules (promtool)', () => {
  it.runIf(hasPromtool)('promtool check rules accepts deploy/prometheus/alerts.yml', () => {
    const out = execFileSync('promtool', ['check', 'rules', rules], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: 10 rules found/);
  });

  it.runIf(hasPromtool)('promtool test rules: every alert fires on its hot series and not on its calm ones', () => {
    const r = spawnSync('promtool', ['test', 'rules', ruleTests], { encoding: 'utf8', cwd: `${root}deploy/prometheus` });
    expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
    // Every alert of the file has a test.
    const tested = new Set([...readFileSync(ruleTests, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    const defined = [...readFileSync(rules, 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    expect(defined.length).toBe(10);
    for (const a of defined) expect(tested.has(a), `${a} has a promtool test`).toBe(true);
  });

  it.runIf(!hasPromtool)('promtool is installed (Debian package prometheus), required under CI or REQUIRE_PROMTOOL=1', () => {
    if (requirePromtool) expect.fail('promtool not found on PATH: install the Debian package prometheus (.ci/run does)');
    console.warn('promtool not found: the rule checks did not run (set REQUIRE_PROMTOOL=1 to make this fail)');
  });
});

describe('Grafana dashboard and alerts against a live /metrics', () => {
  it('the dashboard is importable JSON, templated by job and instance', () => {
    const d = JSON.parse(readFileSync(dashboard, 'utf8')) as { uid: string; templating: { list: Array<{ name: string }> }; panels: unknown[] };
    expect(d.uid).toBe('mcp-ws');
    expect(d.templating.list.map((v) => v.name)).toEqual(['datasource', 'job', 'instance']);
    for (const e of dashboardExprs().filter((x) => !x.startsWith('label_values'))) expect(e, 'every query is filtered by job and instance').toContain('job=~"$job",instance=~"$instance"');
    expect(d.panels.length).toBeGreaterThan(20);
  });

  it('every metric name the dashboard and the alerts reference is exported', async () => {
    const { url } = await startGateway(
      { upstreams: [fixtureUpstream('a')], pool: { minConnections: 1, maxConnections: 2, healthCheckIntervalMs: 0 } },
      // The LLM streams' families, as `serve --llm` exports them beside the gateway's.
      { processMetrics: true, rateLimit: { maxRequestsPerSecond: 1000 }, compression: {}, metrics: llmMetrics(new LlmMetrics()) },
    );
    const base = httpBase(url);
    const text = await scrape(base);
    const exported = new Set<string>();
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
      if (m) exported.add(m[1]!);
      // A family is exported before its first sample (a labelled counter nothing has counted yet).
      const t = /^# TYPE (\S+) (\w+)$/.exec(line);
      if (t) {
        exported.add(t[1]!);
        if (t[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(t[1]! + s);
      }
    }
    const wanted = metricNames([...dashboardExprs(), ...ruleExprs()]);
    expect(wanted.size).toBeGreaterThan(25);
    for (const n of OPTIONAL) expect(wanted.has(n), `${n} is referenced (else drop it from OPTIONAL)`).toBe(true);
    const missing = [...wanted].filter((n) => !exported.has(n) && !OPTIONAL.has(n));
    expect(missing, 'referenced but not exported').toEqual([]);
  }, 60_000);
});
