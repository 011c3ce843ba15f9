/**
 * The soak report: one JSON document, the PASS/FAIL verdict against stated
 * bounds, and the Markdown tables printed and written next to it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fmt, markdownTable } from '../lib/markdown.js';
import type { WellBehavedStats } from './actors.js';

/** The bounds a run must meet to PASS. */
export const BOUNDS = {
  /** Server or gateway exits before the soak stops them. */
  crashes: 0,
  /** Well-behaved requests neither answered nor in flight on an expected close. */
  lost: 0,
  /** RSS growth of each process, quiet-period minimum minus the RSS before any load, in MiB. */
  rssGrowthMiB: 64,
  /** Connections the server still counts open after the quiet period (all peers are gone by then). */
  connectionsLeftOpen: 0,
  /** Sockets the server half-closed (sent FIN) and then held open while a silent peer held its side: each keeps a slot. */
  halfClosedHeld: 0,
} as const;

export interface ProcessReport {
  name: 'server' | 'gateway';
  pid: number;
  /** Exits before the soak stopped it. */
  crashes: number;
  exit?: string;
  /** How it ended when stopped with SIGTERM (exit code or signal). */
  shutdown?: string;
  rssMiB: { start?: number; afterBaseline?: number; peak?: number; endOfHostile?: number; quietMin?: number; growth?: number };
  /** mcp_ws_connections_active from /metrics after the quiet period. */
  connectionsActiveAfter?: number;
  /** Highest mcp_ws_requests_in_flight seen (sampled every 2 s). */
  peakRequestsInFlight: number;
  /** Gateway: highest number of upstream sessions in its pool (each a stdio process here), sampled every 2 s. */
  peakUpstreamSessions?: number;
  /** Non-zero error and upgrade-rejection counters from /metrics at the end. */
  counted: Record<string, number>;
  /** One echo through a fresh session after the quiet period. */
  aliveAfter: boolean;
  /** JSON log lines written to stderr, by level. */
  logLines: Record<string, number>;
  /** Last stderr lines that were not log lines (bounded). */
  stderrTail: string[];
}

/** What the well-behaved clients of one target saw (the actor's counts), with their number, losses and latency. */
export interface WellBehavedReport extends WellBehavedStats {
  target: 'server' | 'gateway';
  clients: number;
  lost: number;
  p50Ms: { baseline?: number; hostile?: number };
  p99Ms: { baseline?: number; hostile?: number };
  maxMs: { baseline?: number; hostile?: number };
}

export interface ActorReport {
  actor: string;
  target: 'server' | 'gateway';
  cycles: number;
  outcomes: Record<string, number>;
}

export interface SoakReport {
  started: string;
  node: string;
  command: string;
  settings: Record<string, unknown>;
  phasesSeconds: { baseline: number; hostile: number; quiet: number };
  /** Event-loop delay of the soak process itself over baseline and hostile (a stalled harness inflates latencies). */
  harnessLoopDelayMs: { p99: number; max: number };
  rssAfterGc: string;
  bounds: typeof BOUNDS;
  processes: ProcessReport[];
  wellBehaved: WellBehavedReport[];
  actors: ActorReport[];
  failures: string[];
  verdict: 'PASS' | 'FAIL';
}

/** Fills `failures` and `verdict` from the bounds. */
export function judge(r: Omit<SoakReport, 'failures' | 'verdict'>): SoakReport {
  const failures: string[] = [];
  for (const p of r.processes) {
    if (p.crashes > BOUNDS.crashes) failures.push(`${p.name} crashed (${p.exit ?? 'exited'})`);
    if (p.rssMiB.growth === undefined) failures.push(`${p.name}: RSS not measured`);
    else if (p.rssMiB.growth > BOUNDS.rssGrowthMiB) failures.push(`${p.name} RSS grew ${p.rssMiB.growth} MiB (bound ${BOUNDS.rssGrowthMiB})`);
    if (p.connectionsActiveAfter !== undefined && p.connectionsActiveAfter > BOUNDS.connectionsLeftOpen) {
      failures.push(`${p.name} still counts ${p.connectionsActiveAfter} open connections after the quiet period`);
    }
    if (!p.aliveAfter) failures.push(`${p.name} did not answer a fresh session after the run`);
  }
  for (const a of r.actors) {
    const held = Object.entries(a.outcomes)
      .filter(([k]) => k.endsWith(':fin-held'))
      .reduce((n, [, v]) => n + v, 0);
    if (held > BOUNDS.halfClosedHeld) failures.push(`${a.target}: ${held} ${a.actor} sockets half-closed by the server and held open`);
  }
  for (const w of r.wellBehaved) {
    if (w.lost > BOUNDS.lost) failures.push(`${w.target}: ${w.lost} well-behaved requests lost (${w.timedOut} timed out, ${w.lostOnClose} on unexpected closes)`);
    if (w.wrongAnswers > 0) failures.push(`${w.target}: ${w.wrongAnswers} wrong answers`);
  }
  return { ...r, failures, verdict: failures.length === 0 ? 'PASS' : 'FAIL' };
}

const kv = (o: Record<string, number>): string =>
  Object.entries(o)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || '—';

/** The Markdown document: settings, processes, well-behaved clients, hostile actors, verdict. */
export function toMarkdown(r: SoakReport): string {
  const procs = markdownTable(
    ['process', 'crashes', 'RSS start MiB', 'after baseline', 'peak', 'end of hostile', 'quiet min', 'growth', 'conns open after', 'peak in flight', 'alive after', 'shutdown'],
    r.processes.map((p) => [
      p.name,
      p.crashes,
      fmt(p.rssMiB.start, 1),
      fmt(p.rssMiB.afterBaseline, 1),
      fmt(p.rssMiB.peak, 1),
      fmt(p.rssMiB.endOfHostile, 1),
      fmt(p.rssMiB.quietMin, 1),
      fmt(p.rssMiB.growth, 1),
      p.connectionsActiveAfter ?? '—',
      p.peakUpstreamSessions === undefined ? p.peakRequestsInFlight : `${p.peakRequestsInFlight} (upstreams ${p.peakUpstreamSessions})`,
      p.aliveAfter ? 'yes' : 'NO',
      p.shutdown ?? '—',
    ]),
    [false, true, true, true, true, true, true, true, true, true, false, false],
  );
  const wb = markdownTable(
    ['target', 'clients', 'sent', 'answered', 'closed (expected)', 'lost', 'p50 base ms', 'p99 base ms', 'p50 hostile ms', 'p99 hostile ms', 'max hostile ms', 'closes seen', 'reconnect failures'],
    r.wellBehaved.map((w) => [
      w.target,
      w.clients,
      w.sent,
      w.answered,
      w.closedExpected,
      w.lost,
      fmt(w.p50Ms.baseline),
      fmt(w.p99Ms.baseline),
      fmt(w.p50Ms.hostile),
      fmt(w.p99Ms.hostile),
      fmt(w.maxMs.hostile),
      kv(w.closes),
      kv(w.reconnectFailures),
    ]),
    [false, true, true, true, true, true, true, true, true, true, true, false, false],
  );
  const actors = markdownTable(
    ['actor', 'target', 'cycles', 'outcomes'],
    r.actors.map((a) => [a.actor, a.target, a.cycles, kv(a.outcomes)]),
    [false, false, true, false],
  );
  const counted = r.processes.map((p) => `${p.name} counted: ${kv(p.counted)}; logged: ${kv(p.logLines)}.`).join(' ');
  return [
    `# Soak, ${r.started}`,
    '',
    `Node ${r.node}. \`${r.command}\`. Phases: baseline ${r.phasesSeconds.baseline} s (well-behaved clients only), hostile ${r.phasesSeconds.hostile} s, quiet ${r.phasesSeconds.quiet} s. RSS "after GC": ${r.rssAfterGc}. Soak's own event-loop delay: p99 ${r.harnessLoopDelayMs.p99} ms, max ${r.harnessLoopDelayMs.max} ms.`,
    '',
    procs,
    '',
    counted,
    '',
    wb,
    '',
    actors,
    '',
    `Bounds: crashes ${BOUNDS.crashes}, lost ${BOUNDS.lost}, RSS growth ≤ ${BOUNDS.rssGrowthMiB} MiB, connections open after quiet ${BOUNDS.connectionsLeftOpen}, sockets half-closed and held ${BOUNDS.halfClosedHeld}, fresh session answered after the run.`,
    '',
    `**${r.verdict}**${r.failures.length ? `: ${r.failures.join('; ')}` : ''}`,
  ].join('\n');
}

/** Writes `<dir>/soak-<stamp>.json` and `.md`; returns the base path. */
export function writeReport(dir: string, stamp: string, r: SoakReport, md: string): string {
  mkdirSync(dir, { recursive: true });
  const base = `${dir}/soak-${stamp}`;
  writeFileSync(`${base}.md`, `${md}\n`);
  writeFileSync(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  return base;
}
