/**
 * One soak run: start `mcp-ws serve` (demo router plus throwing tools, with
 * a bearer token) and `mcp-ws gateway` (in front of a stdio MCP server),
 * run well-behaved clients alone (baseline), then with every hostile actor
 * (hostile), stop everything and watch RSS through a quiet period, then
 * check both processes still serve and stop them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  churn,
  halfOpen,
  malformed,
  Outcomes,
  pipelining,
  slowPeer,
  sleep,
  throwing,
  upstreamKills,
  WellBehaved,
  REQUEST_TIMEOUT_MS,
  OPEN_TIMEOUT_MS,
  type Target,
} from './actors.js';
import { RpcClient } from './rpc-client.js';
import { ServedProcess, scrapeCounters, scrapeGauge } from './processes.js';
import { BOUNDS, judge, type ActorReport, type ProcessReport, type SoakReport, type WellBehavedReport } from './report.js';

export interface SoakOptions {
  /** Whole run, in seconds (baseline + hostile + quiet). */
  seconds: number;
  /** Well-behaved clients in all; about a quarter go through the gateway. */
  clients: number;
  /** Sleep calls each greedy pipeliner sends at once. */
  pipeline: number;
  /** bin/mcp-ws.js to run. */
  bin: string;
  command: string;
  log?: (line: string) => void;
}

/** Settings the server runs with, so hostile outcomes show within a short run. */
export const SERVE_SETTINGS = {
  maxPayload: 1_048_576,
  maxConnections: 256,
  handshakeTimeoutMs: 3_000,
  heartbeatIntervalMs: 3_000,
  // The default: shorter, an overloaded (shared) machine gets busy clients terminated.
  heartbeatTimeoutMs: 10_000,
  maxBufferedBytes: 1_048_576,
  slowConsumerTimeoutMs: 2_000,
  messageTimeoutMs: 5_000,
  logLevel: 'warn',
} as const;

/** Splits the run into phases: quiet 10 % (2–30 s), baseline 20 % (2–120 s), the rest hostile. */
export function phases(seconds: number): { baseline: number; hostile: number; quiet: number } {
  const quiet = Math.min(30, Math.max(2, Math.round(seconds * 0.1)));
  const baseline = Math.min(120, Math.max(2, Math.round(seconds * 0.2)));
  return { baseline, hostile: Math.max(2, seconds - quiet - baseline), quiet };
}

const MiB = (n: number | undefined): number | undefined => (n === undefined ? undefined : Math.round(n * 10) / 10);
const pct = (h: WellBehaved['latency']['baseline'], p: number): number | undefined =>
  h.totalCount === 0 ? undefined : Math.round(h.getValueAtPercentile(p) / 10) / 100;

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const log = opts.log ?? (() => undefined);
  const started = new Date();
  const phase = phases(opts.seconds);
  const token = randomBytes(24).toString('hex');
  const auth = { Authorization: `Bearer ${token}` };
  const work = mkdtempSync(join(tmpdir(), 'mcp-ws-soak-'));
  const config = join(work, 'serve.json');
  writeFileSync(config, JSON.stringify(SERVE_SETTINGS));
  const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
  const procs: ServedProcess[] = [];
  let sampler: NodeJS.Timeout | undefined;
  try {
    const server = await ServedProcess.start(
      'server',
      opts.bin,
      ['serve', '--port', '0', '--config', config, '--module', here('./soak-module.js')],
      { MCP_WS_AUTH_TOKENS: token },
    );
    procs.push(server);
    const gateway = await ServedProcess.start('gateway', opts.bin, [
      'gateway',
      '--port',
      '0',
      '--config',
      config,
      '--upstream',
      `"${process.execPath}" "${here('./stdio-upstream.js')}"`,
      '--request-timeout-ms',
      String(REQUEST_TIMEOUT_MS),
      '--health-check-interval-ms',
      '2000',
    ]);
    procs.push(gateway);
    log(`soak: server ${server.url} (pid ${server.pid}), gateway ${gateway.url} (pid ${gateway.pid})`);

    const raw = (p: ServedProcess, headers?: Record<string, string>) => ({ host: '127.0.0.1', port: p.port, path: new URL(p.url).pathname, headers });
    const targets: Record<'server' | 'gateway', Target> = {
      server: { name: 'server', ws: { url: server.url, headers: auth }, raw: raw(server, auth), expectedCloses: new Set() },
      gateway: { name: 'gateway', ws: { url: gateway.url }, raw: raw(gateway), expectedCloses: new Set([4003]) },
    };

    await sleep(1_000);
    // The soak's own event loop: when it stalls, latencies and timeouts are partly the harness's.
    const loopDelay = monitorEventLoopDelay({ resolution: 20 });
    loopDelay.enable();
    const rssStart = procs.map((p) => p.sampleRss());
    let sampling = true;
    let ticks = 0;
    const peakInFlight = [0, 0];
    let peakUpstreamSessions = 0;
    const scrapeHeaders = [auth, {}];
    sampler = setInterval(() => {
      if (!sampling) return;
      for (const p of procs) p.sampleRss();
      // Requests the server holds at once, every 2 s (a scrape costs the server more than a /proc read).
      if (ticks++ % 4 === 0) {
        procs.forEach((p, i) => {
          void scrapeGauge(p.port, 'mcp_ws_requests_in_flight', scrapeHeaders[i]).then((v) => {
            if (v !== undefined && v > peakInFlight[i]!) peakInFlight[i] = v;
          });
        });
        void scrapeGauge(gateway.port, 'mcp_ws_gateway_pool_sessions').then((v) => {
          if (v !== undefined && v > peakUpstreamSessions) peakUpstreamSessions = v;
        });
      }
    }, 500);

    // Baseline: well-behaved clients only.
    const gwClients = Math.max(1, Math.floor(opts.clients / 4));
    const wellBehaved = [new WellBehaved(targets.server), new WellBehaved(targets.gateway)];
    wellBehaved[0]!.start(Math.max(1, opts.clients - gwClients));
    wellBehaved[1]!.start(gwClients);
    log(`soak: baseline ${phase.baseline} s`);
    await sleep(phase.baseline * 1_000);
    const rssAfterBaseline = procs.map((p) => p.sampleRss());

    // Hostile: everything at once.
    for (const w of wellBehaved) w.phase = 'hostile';
    log(`soak: hostile ${phase.hostile} s`);
    const deadline = performance.now() + phase.hostile * 1_000;
    const actors: Array<{ actor: string; target: Target; outcomes: Outcomes; run: (o: Outcomes) => Promise<void> }> = [];
    const add = (actor: string, target: Target, run: (o: Outcomes) => Promise<void>): void => {
      actors.push({ actor, target, outcomes: new Outcomes(), run });
    };
    // Longer than any timeout that should end a silent peer.
    const holdMs = Math.max(SERVE_SETTINGS.handshakeTimeoutMs, SERVE_SETTINGS.heartbeatIntervalMs + SERVE_SETTINGS.heartbeatTimeoutMs) + 5_000;
    add('churn', targets.server, (o) => churn(targets.server, o, deadline, 20));
    add('churn', targets.gateway, (o) => churn(targets.gateway, o, deadline, 250));
    add('half-open', targets.server, (o) => halfOpen(targets.server, ['silent-after-upgrade', 'wrong-token', 'partial-head'], o, deadline, 48, holdMs));
    add('half-open', targets.gateway, (o) => halfOpen(targets.gateway, ['silent-after-upgrade', 'partial-head'], o, deadline, 16, holdMs));
    add('slow-peer', targets.server, (o) => slowPeer(targets.server, o, deadline, 48, 256 * 1024, SERVE_SETTINGS.slowConsumerTimeoutMs * 2 + 2_000));
    add('malformed', targets.server, (o) => malformed(targets.server, o, deadline, SERVE_SETTINGS.maxPayload));
    add('malformed', targets.gateway, (o) => malformed(targets.gateway, o, deadline, SERVE_SETTINGS.maxPayload));
    add('throwing-tool', targets.server, (o) => throwing(targets.server, ['boom', 'boom-rpc'], o, deadline));
    add('throwing-tool', targets.gateway, (o) => throwing(targets.gateway, ['boom'], o, deadline));
    add('pipelining', targets.server, (o) => pipelining(targets.server, o, deadline, opts.pipeline, 1_000));
    add('pipelining', targets.gateway, (o) => pipelining(targets.gateway, o, deadline, Math.max(1, opts.pipeline >> 2), 0));
    add('upstream-kill', targets.gateway, (o) => upstreamKills(targets.gateway, o, deadline, Math.max(2_000, Math.round((phase.hostile * 1_000) / 8))));
    await Promise.all(actors.map((a) => a.run(a.outcomes)));
    for (const w of wellBehaved) await w.stop();
    loopDelay.disable();
    const harnessLoopDelayMs = { p99: Math.round(loopDelay.percentile(99) / 1e5) / 10, max: Math.round(loopDelay.max / 1e5) / 10 };
    const rssEndOfHostile = procs.map((p) => p.sampleRss());
    log('soak: hostile actors done; quiet period');

    // Quiet: nobody connected; the lowest RSS stands for "after GC" (the CLI exposes no gc()).
    const quietFrom = procs.map((p) => p.rss.length);
    await sleep(phase.quiet * 1_000);
    sampling = false;
    clearInterval(sampler);
    sampler = undefined;
    const quietMin = procs.map((p, i) => {
      const tail = p.rss.slice(quietFrom[i]);
      const last = p.sampleRss();
      if (last !== undefined) tail.push(last);
      return tail.length ? Math.min(...tail) : undefined;
    });
    const connsAfter = [await scrapeGauge(server.port, 'mcp_ws_connections_active', auth), await scrapeGauge(gateway.port, 'mcp_ws_connections_active')];
    const counted = [await scrapeCounters(server.port, auth), await scrapeCounters(gateway.port)];
    const aliveAfter = await Promise.all([aliveCheck(targets.server), aliveCheck(targets.gateway)]);

    const shutdown = [] as string[];
    for (const p of procs) shutdown.push(await p.stop());

    const processes: ProcessReport[] = procs.map((p, i) => ({
      name: p.name,
      pid: p.pid,
      crashes: p.crashes,
      exit: p.crashes > 0 ? p.exit : undefined,
      shutdown: shutdown[i],
      rssMiB: {
        start: MiB(rssStart[i]),
        afterBaseline: MiB(rssAfterBaseline[i]),
        peak: p.rss.length ? Math.max(...p.rss) : undefined,
        endOfHostile: MiB(rssEndOfHostile[i]),
        quietMin: MiB(quietMin[i]),
        growth: quietMin[i] !== undefined && rssStart[i] !== undefined ? MiB(quietMin[i]! - rssStart[i]!) : undefined,
      },
      connectionsActiveAfter: connsAfter[i],
      peakRequestsInFlight: peakInFlight[i]!,
      ...(p.name === 'gateway' ? { peakUpstreamSessions } : {}),
      counted: counted[i] ?? {},
      aliveAfter: aliveAfter[i]!,
      logLines: p.logLines,
      stderrTail: p.stderrTail,
    }));
    const wb: WellBehavedReport[] = wellBehaved.map((w, i) => {
      const s = w.stats;
      const h = w.latency;
      return {
        target: w.target.name,
        clients: i === 0 ? Math.max(1, opts.clients - gwClients) : gwClients,
        ...s,
        lost: s.sent - s.answered - s.closedExpected,
        p50Ms: { baseline: pct(h.baseline, 50), hostile: pct(h.hostile, 50) },
        p99Ms: { baseline: pct(h.baseline, 99), hostile: pct(h.hostile, 99) },
        maxMs: { baseline: pct(h.baseline, 100), hostile: pct(h.hostile, 100) },
      };
    });
    const actorReports: ActorReport[] = actors.map((a) => ({ actor: a.actor, target: a.target.name, cycles: a.outcomes.cycles, outcomes: a.outcomes.counts }));
    return judge({
      started: started.toISOString(),
      node: process.version,
      command: opts.command,
      settings: { clients: opts.clients, gatewayClients: gwClients, pipeline: opts.pipeline, serve: SERVE_SETTINGS },
      phasesSeconds: phase,
      harnessLoopDelayMs,
      rssAfterGc: 'minimum RSS sampled every 500 ms over the quiet period (no client connected); RSS read from /proc/<pid>/status',
      bounds: BOUNDS,
      processes,
      wellBehaved: wb,
      actors: actorReports,
    });
  } finally {
    if (sampler) clearInterval(sampler);
    for (const p of procs) if (p.alive) await p.stop(5_000);
    rmSync(work, { recursive: true, force: true });
  }
}

/** One fresh session, one echo: does the process still serve? */
async function aliveCheck(target: Target): Promise<boolean> {
  try {
    const c = await RpcClient.open(target.ws, OPEN_TIMEOUT_MS);
    const r = await c.request('tools/call', { name: 'echo', arguments: { text: 'alive' } }, REQUEST_TIMEOUT_MS);
    await c.close();
    return r?.result?.content?.[0]?.text === 'alive';
  } catch {
    return false;
  }
}
