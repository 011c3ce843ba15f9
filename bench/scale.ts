/**
 * Many concurrent initialized sessions on one machine, against a real
 * `mcp-ws serve --workers W` (bin/mcp-ws.js, heartbeats on):
 *
 *   npm run bench:scale -- 100000 --workers 6
 *
 * 1. `mcp-ws doctor --connections N --workers W` is run and its verdict kept.
 * 2. The server starts under a shell that raises `ulimit -n` to the hard
 *    limit (each worker holds about N / W sockets); its processes' RSS is
 *    read from /proc once it is ready.
 * 3. Connect storm: G generator processes (bench/scale-client.ts), each
 *    opening up to N / G sessions with P handshakes at a time, from source
 *    addresses 127.0.0.2–251 (no address runs out of ephemeral ports). Each
 *    handshake is timed (upgrade answered; initialize answered).
 * 4. Idle: every session stays open through --idle-seconds of heartbeats
 *    (the default 30 s interval pings each one at least once in the default
 *    window); the sweep's passes, wall time and CPU are read from the
 *    server's /metrics (mcp_ws_sweep_*), and the server's CPU from /proc.
 * 5. Active: every 1/fraction-th session sends `tools/call echo` at
 *    --active-rate per second for --active-seconds, open loop, latency from
 *    the intended send time; server CPU per request from /proc.
 * 6. RSS of every server process again; sessions still open; the server
 *    drains (SIGTERM) and the generators close.
 *
 * Results: bench/results/scale-<date>.md and .json (or --out DIR), with the
 * load average at the start and the end (the machine may be shared).
 * Bounded: at most 1,000,000 sessions, every phase has a time limit, and
 * only loopback addresses are used.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnNode } from './lib/target-process.js';
import { processTree, sampleTree } from './lib/proc-cpu.js';
import { fmt, markdownTable } from './lib/markdown.js';
import type { ScaleCommand, ScaleReport } from './scale-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = `${ROOT}bin/mcp-ws.js`;
/** Descriptors a Node process uses besides its sockets. */
const FD_SLACK = 200;
/** Sessions a generator process holds at most. */
const PER_GENERATOR = 16_000;
const FIRST_SOURCE = 2;
const SOURCES = 250;
const KB = 1024;
const MB = 1024 * 1024;

class UsageError extends Error {}

function usage(message: string): never {
  throw new UsageError(message);
}

function hardFdLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const hard = (line ?? '').replace('Max open files', '').trim().split(/\s+/)[1];
  return hard === 'unlimited' ? Infinity : Number(hard);
}

function load(): [number, number, number] {
  const [a, b, c] = loadavg();
  return [a!, b!, c!];
}

function loadText(l: number[]): string {
  return l.map((x) => x.toFixed(2)).join(', ');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * KB : 0;
  } catch {
    return 0;
  }
}

/** RSS of the server's processes (primary first), bytes. */
function serverRss(root: number): Array<{ pid: number; rss: number }> {
  return processTree(root).map((p) => ({ pid: p.pid, rss: rssOf(p.pid) }));
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function percentiles(xs: number[]): { p50: number; p99: number; p999: number; max: number } {
  if (xs.length === 0) return { p50: NaN, p99: NaN, p999: NaN, max: NaN };
  const s = Float64Array.from(xs).sort();
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(s.length * q))]!;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: s[s.length - 1]! };
}

/** The server's /metrics text, or '' when it does not answer. */
async function scrape(port: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(15_000) });
    return res.ok ? await res.text() : '';
  } catch {
    return '';
  }
}

/** A metric's samples summed over labels (NaN when absent). */
function metric(text: string, name: string): number {
  let total = NaN;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) total = (Number.isNaN(total) ? 0 : total) + Number(m[1]);
  return total;
}

/** A metric's samples by `worker` label. */
function byWorker(text: string, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(new RegExp(`^${name}\\{[^}]*worker="([^"]+)"[^}]*\\} (\\S+)$`, 'gm'))) out[m[1]!] = Number(m[2]);
  return out;
}

interface Server {
  child: ChildProcess;
  url: string;
  port: number;
  stderr: string[];
}

function startServer(workers: number, heartbeatMs: number, maxConnections: number, sched: string): Promise<Server> {
  const args = [
    BIN,
    'serve',
    '--port',
    '0',
    '--workers',
    String(workers),
    '--heartbeat-interval-ms',
    String(heartbeatMs),
    '--max-connections',
    String(maxConnections),
    '--log-level',
    'warn',
  ];
  // Node cannot raise its own descriptor limit: a shell raises it to the hard limit, then becomes node.
  // NODE_CLUSTER_SCHED_POLICY: 'rr' (Node's default: the primary accepts and hands each socket to a worker) or 'none' (workers accept).
  const child = spawn('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"', process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_CLUSTER_SCHED_POLICY: sched },
  });
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    for (const l of d.split('\n')) if (l.trim() !== '' && stderr.length < 20) stderr.push(l.slice(0, 300));
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server printed no ready line within 180 s${stderr.length ? `: ${stderr.join(' | ')}` : ''}`));
    }, 180_000);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      out += d;
      const m = /(ws:\/\/\S+)/.exec(out);
      if (m && out.includes('\n')) {
        clearTimeout(timer);
        const url = m[1]!;
        resolve({ child, url, port: Number(new URL(url).port), stderr });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before it was ready${stderr.length ? `: ${stderr.join(' | ')}` : ''}`));
    });
  });
}

async function stopServer(s: Server): Promise<string> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return `already exited (${s.child.exitCode ?? s.child.signalCode})`;
  const exited = new Promise<string>((r) => s.child.once('exit', (code, signal) => r(signal ? `signal ${signal}` : `code ${code}`)));
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 90_000);
  const how = await exited;
  clearTimeout(timer);
  return how;
}

/** Sends `command` to every generator and collects one report of `type` from each (bounded). */
function ask<T extends ScaleReport['type']>(gens: ChildProcess[], commands: ScaleCommand[], type: T, timeoutMs: number): Promise<Array<Extract<ScaleReport, { type: T }>>> {
  return Promise.all(
    gens.map(
      (g, i) =>
        new Promise<Extract<ScaleReport, { type: T }>>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`generator ${i + 1} sent no ${type} report within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
          const onMessage = (m: ScaleReport): void => {
            if (m.type !== type) return;
            clearTimeout(timer);
            g.removeListener('message', onMessage);
            g.removeListener('exit', onExit);
            resolve(m as Extract<ScaleReport, { type: T }>);
          };
          const onExit = (code: number | null): void => {
            clearTimeout(timer);
            reject(new Error(`generator ${i + 1} exited (${code}) before its ${type} report`));
          };
          g.on('message', onMessage);
          g.once('exit', onExit);
          g.send(commands[i]!);
        }),
    ),
  );
}

async function closeGenerators(gens: ChildProcess[]): Promise<void> {
  await Promise.all(
    gens.map(
      (g) =>
        new Promise<void>((resolve) => {
          if (g.exitCode !== null || g.signalCode !== null) return resolve();
          const t = setTimeout(() => g.kill('SIGKILL'), 15_000);
          g.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          if (g.connected) g.send({ type: 'close' } satisfies ScaleCommand);
          else g.kill('SIGTERM');
        }),
    ),
  );
}

interface Args {
  sessions: number;
  workers: number;
  generators: number;
  parallel: number;
  heartbeatMs: number;
  idleSeconds: number;
  activePercent: number;
  activeRate: number;
  activeSeconds: number;
  openSeconds: number;
  sched: 'rr' | 'none';
  out: string;
}

function parse(): Args {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        workers: { type: 'string', default: '6' },
        generators: { type: 'string' },
        parallel: { type: 'string', default: '100' },
        'heartbeat-ms': { type: 'string', default: '30000' },
        'idle-seconds': { type: 'string', default: '40' },
        'open-seconds': { type: 'string', default: '1800' },
        'active-percent': { type: 'string', default: '1' },
        'active-rate': { type: 'string', default: '10' },
        'active-seconds': { type: 'string', default: '30' },
        sched: { type: 'string', default: 'rr' },
        out: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    usage((err as Error).message);
  }
  const v = parsed.values;
  const int = (name: string, raw: string | undefined, min: number, max: number): number => {
    const n = Number(raw);
    if (raw === undefined || raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) usage(`${name} should be an integer from ${min} to ${max}, got "${raw}"`);
    return n;
  };
  const num = (name: string, raw: string | undefined, min: number, max: number): number => {
    const n = Number(raw);
    if (raw === undefined || raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) usage(`${name} should be a number from ${min} to ${max}, got "${raw}"`);
    return n;
  };
  if (parsed.positionals.length > 1) usage(`one session count expected, got "${parsed.positionals.join(' ')}"`);
  const sessions = int('N (sessions)', parsed.positionals[0] ?? '100000', 1, 1_000_000);
  const workers = int('--workers', v.workers, 1, 64);
  if (v.sched !== 'rr' && v.sched !== 'none') usage(`--sched should be rr or none, got "${v.sched}"`);
  const generators = int('--generators', v.generators ?? String(Math.ceil(sessions / PER_GENERATOR)), 1, 64);
  return {
    sessions,
    workers,
    generators,
    parallel: int('--parallel', v.parallel, 1, 5_000),
    heartbeatMs: int('--heartbeat-ms', v['heartbeat-ms'], 1_000, 600_000),
    idleSeconds: num('--idle-seconds', v['idle-seconds'], 1, 3_600),
    activePercent: num('--active-percent', v['active-percent'], 0, 100),
    activeRate: num('--active-rate', v['active-rate'], 0.1, 1_000),
    activeSeconds: num('--active-seconds', v['active-seconds'], 1, 3_600),
    openSeconds: num('--open-seconds', v['open-seconds'], 1, 7_200),
    sched: v.sched,
    out: v.out ?? `${ROOT}bench/results`,
  };
}

async function main(): Promise<void> {
  const a = parse();
  const hard = hardFdLimit();
  const perWorker = Math.ceil(a.sessions / a.workers);
  const perGen = Math.ceil(a.sessions / a.generators);
  if (perWorker + FD_SLACK > hard) {
    usage(`${a.sessions} sessions over ${a.workers} worker(s) put ${perWorker} sockets in each, past the open-files hard limit ${hard}: use --workers ${Math.ceil(a.sessions / (hard - FD_SLACK))} or more (or raise the limit, see docs/SCALING.md)`);
  }
  if (perGen + FD_SLACK > hard) usage(`${perGen} sessions per generator pass the open-files hard limit ${hard}: use --generators ${Math.ceil(a.sessions / (hard - FD_SLACK))} or more`);
  if (a.sessions > SOURCES * 28_000) usage(`${a.sessions} sessions exceed the ephemeral ports of 127.0.0.${FIRST_SOURCE}–${FIRST_SOURCE + SOURCES - 1}`);

  const started = new Date();
  const load0 = load();
  const command = `npm run bench:scale -- ${process.argv.slice(2).join(' ')}`.trim();
  const log = (s: string): void => void process.stderr.write(`scale: ${s}\n`);
  log(`${a.sessions.toLocaleString('en-US')} sessions, ${a.workers} worker(s), ${a.generators} generator(s) × ${a.parallel} handshakes at a time; load average ${loadText(load0)}`);

  // What the doctor says about this machine for this target.
  const doctor = spawnSync(process.execPath, [BIN, 'doctor', '--connections', String(a.sessions), '--workers', String(a.workers)], { encoding: 'utf8', timeout: 30_000 });
  const doctorText = `${doctor.stdout ?? ''}${doctor.stderr ?? ''}`.trim();

  const server = await startServer(a.workers, a.heartbeatMs, perWorker + 1000, a.sched);
  const pid = server.child.pid!;
  const gens: ChildProcess[] = [];
  try {
    await sleep(3000);
    const rss0 = serverRss(pid);
    const metrics0 = await scrape(server.port);
    log(`server ready at ${server.url}, ${rss0.length} process(es), RSS ${fmt(sum(rss0.map((p) => p.rss)) / MB, 1)} MB`);

    // ---- connect storm
    for (let g = 0; g < a.generators; g++) {
      const count = Math.min(perGen, a.sessions - g * perGen);
      if (count <= 0) break;
      gens.push(spawnNode(new URL('./scale-client.js', import.meta.url), { fdLimit: count + FD_SLACK }));
    }
    const cpuStorm0 = sampleTree(pid);
    const tStorm0 = performance.now();
    const openTimeoutMs = 60_000;
    const opened = await ask(
      gens,
      gens.map((_, g) => ({
        type: 'open',
        url: server.url,
        count: Math.min(perGen, a.sessions - g * perGen),
        offset: g * perGen,
        parallel: a.parallel,
        timeoutMs: openTimeoutMs,
        firstSource: FIRST_SOURCE,
        sources: SOURCES,
        stopAt: Date.now() + a.openSeconds * 1000,
      })),
      'opened',
      (a.openSeconds + 120) * 1000,
    );
    const stormWallS = (performance.now() - tStorm0) / 1000;
    const cpuStorm1 = sampleTree(pid);
    const nOpened = sum(opened.map((r) => r.opened));
    const nFailed = sum(opened.map((r) => r.failed));
    const stormSeconds = (Math.max(...opened.map((r) => r.endedAt)) - Math.min(...opened.map((r) => r.startedAt))) / 1000;
    const upgrade = percentiles(opened.flatMap((r) => r.upgradeMs));
    const init = percentiles(opened.flatMap((r) => r.initializeMs));
    const storm = {
      opened: nOpened,
      failed: nFailed,
      firstError: opened.find((r) => r.error !== undefined)?.error,
      seconds: stormSeconds,
      handshakesPerSecond: nOpened / stormSeconds,
      concurrency: Math.min(a.parallel, perGen) * gens.length,
      upgradeMs: upgrade,
      initializeMs: init,
      serverCpuSeconds: (cpuStorm1.total - cpuStorm0.total) / 1e6,
      wallSeconds: stormWallS,
    };
    log(
      `storm: ${nOpened.toLocaleString('en-US')} opened, ${nFailed} failed in ${fmt(stormSeconds, 1)} s = ${fmt(storm.handshakesPerSecond)} handshakes/s; ` +
        `initialize p50 ${fmt(init.p50)} ms p99 ${fmt(init.p99)} ms${storm.firstError ? ` (first failure: ${storm.firstError})` : ''}`,
    );

    // ---- idle, heartbeats on
    const metricsIdle0 = await scrape(server.port);
    const cpuIdle0 = sampleTree(pid);
    const tIdle0 = performance.now();
    await sleep(a.idleSeconds * 1000);
    const idleWall = (performance.now() - tIdle0) / 1000;
    const cpuIdle1 = sampleTree(pid);
    const metricsIdle1 = await scrape(server.port);
    const rss1 = serverRss(pid);
    const d = (name: string): number => metric(metricsIdle1, name) - metric(metricsIdle0, name);
    const sweeps = d('mcp_ws_sweeps_total');
    const idle = {
      seconds: idleWall,
      serverCpuPercent: ((cpuIdle1.total - cpuIdle0.total) / 1e6 / idleWall) * 100,
      sweeps,
      sweepWallMs: (d('mcp_ws_sweep_seconds_total') / sweeps) * 1000,
      sweepCpuMs: (d('mcp_ws_sweep_cpu_seconds_total') / sweeps) * 1000,
      sessionsPerWorker: nOpened / a.workers,
      heartbeatTimeouts: d('mcp_ws_errors_total\\{kind="heartbeat_timeout"\\}'),
      connectionsActive: metric(metricsIdle1, 'mcp_ws_connections_active'),
    };
    const perSessionUs = (idle.sweepCpuMs * 1000) / idle.sessionsPerWorker;
    log(
      `idle ${fmt(idleWall, 0)} s: server CPU ${fmt(idle.serverCpuPercent, 1)} % of a core; ${sweeps} sweeps, ` +
        `${fmt(idle.sweepCpuMs, 2)} ms CPU (${fmt(idle.sweepWallMs, 2)} ms wall) per sweep of ~${fmt(idle.sessionsPerWorker, 0)} sessions = ${fmt(perSessionUs, 3)} µs per session`,
    );

    // ---- 1 % active at a fixed rate
    let active: ReturnType<typeof summariseActive> | undefined;
    if (a.activePercent > 0) {
      const every = Math.max(1, Math.round(100 / a.activePercent));
      const cpuA0 = sampleTree(pid);
      const tA0 = performance.now();
      const reports = await ask(
        gens,
        gens.map(() => ({ type: 'active', every, ratePerSession: a.activeRate, seconds: a.activeSeconds, drainMs: 10_000 })),
        'active',
        (a.activeSeconds + 60) * 1000,
      );
      const wall = (performance.now() - tA0) / 1000;
      const cpuA1 = sampleTree(pid);
      active = summariseActive(reports, (cpuA1.total - cpuA0.total) / 1e6, wall);
      log(
        `active: ${active.sessions} sessions × ${a.activeRate}/s: ${active.answered.toLocaleString('en-US')} answered, ${active.errors} errors, ${active.unanswered} unanswered; ` +
          `p50 ${fmt(active.latencyMs.p50)} ms p99 ${fmt(active.latencyMs.p99)} ms; server CPU ${fmt(active.serverCpuPercent, 0)} %; ${active.stillOpen.toLocaleString('en-US')} sessions open`,
      );
    }
    const rss2 = serverRss(pid);
    const metrics2 = await scrape(server.port);

    // ---- report
    const rssTotal = (xs: Array<{ rss: number }>): number => sum(xs.map((x) => x.rss));
    const memory = {
      processes: rss1.length,
      rssBeforeBytes: rssTotal(rss0),
      rssIdleBytes: rssTotal(rss1),
      rssAfterActiveBytes: rssTotal(rss2),
      perSessionTotalBytes: nOpened > 0 ? rssTotal(rss1) / nOpened : NaN,
      perSessionGrowthBytes: nOpened > 0 ? (rssTotal(rss1) - rssTotal(rss0)) / nOpened : NaN,
      perProcess: rss1.map((p, i) => ({ pid: p.pid, rssBefore: rss0.find((q) => q.pid === p.pid)?.rss ?? NaN, rssIdle: p.rss, rssAfterActive: rss2[i]?.rss ?? NaN })),
      heapUsedBefore: byWorker(metrics0, 'nodejs_heap_size_used_bytes'),
      heapUsedIdle: byWorker(metricsIdle1, 'nodejs_heap_size_used_bytes'),
      heapUsedAfterActive: byWorker(metrics2, 'nodejs_heap_size_used_bytes'),
    };
    const load1 = load();
    const md = render(a, command, started, load0, load1, doctorText, doctor.status, storm, idle, active, memory);
    process.stdout.write(`\n${md}\n`);
    mkdirSync(a.out, { recursive: true });
    const base = `${a.out}/scale-${started.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}`;
    writeFileSync(`${base}.md`, `${md}\n`);
    writeFileSync(
      `${base}.json`,
      `${JSON.stringify({ started: started.toISOString(), command, node: process.version, cpus: cpus().length, totalMemory: totalmem(), loadavg: { start: load0, end: load1 }, args: a, doctor: { status: doctor.status, text: doctorText }, storm, idle, active, memory }, null, 2)}\n`,
    );
    log(`wrote ${relative(process.cwd(), base)}.md and .json`);
  } finally {
    await closeGenerators(gens);
    const how = await stopServer(server);
    log(`server stopped: ${how}`);
  }
}

function summariseActive(reports: Array<Extract<ScaleReport, { type: 'active' }>>, serverCpuSeconds: number, wall: number) {
  const answered = sum(reports.map((r) => r.answered));
  return {
    sessions: sum(reports.map((r) => r.sessions)),
    sent: sum(reports.map((r) => r.sent)),
    answered,
    errors: sum(reports.map((r) => r.errors)),
    unanswered: sum(reports.map((r) => r.unanswered)),
    closedDuring: sum(reports.map((r) => r.closedDuring)),
    stillOpen: sum(reports.map((r) => r.stillOpen)),
    latencyMs: percentiles(reports.flatMap((r) => r.latencyMs)),
    sendLagP99Ms: Math.max(...reports.map((r) => r.sendLagP99Ms)),
    serverCpuSeconds,
    serverCpuPercent: (serverCpuSeconds / wall) * 100,
    serverCpuUsPerRequest: answered > 0 ? (serverCpuSeconds * 1e6) / answered : NaN,
  };
}

function render(
  a: Args,
  command: string,
  started: Date,
  load0: number[],
  load1: number[],
  doctorText: string,
  doctorStatus: number | null,
  storm: { opened: number; failed: number; firstError: string | undefined; seconds: number; handshakesPerSecond: number; concurrency: number; upgradeMs: ReturnType<typeof percentiles>; initializeMs: ReturnType<typeof percentiles>; serverCpuSeconds: number },
  idle: { seconds: number; serverCpuPercent: number; sweeps: number; sweepWallMs: number; sweepCpuMs: number; sessionsPerWorker: number; heartbeatTimeouts: number; connectionsActive: number },
  active: ReturnType<typeof summariseActive> | undefined,
  memory: { processes: number; rssBeforeBytes: number; rssIdleBytes: number; rssAfterActiveBytes: number; perSessionTotalBytes: number; perSessionGrowthBytes: number; perProcess: Array<{ pid: number; rssBefore: number; rssIdle: number; rssAfterActive: number }>; heapUsedBefore: Record<string, number>; heapUsedIdle: Record<string, number> },
): string {
  const lines: string[] = [];
  lines.push(`# ${a.sessions.toLocaleString('en-US')} sessions on one machine, ${started.toISOString()}`, '');
  lines.push(`Command: \`${command}\``, '');
  lines.push(
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${fmt(totalmem() / 1024 ** 3, 1)} GiB. ` +
      `Server: \`NODE_CLUSTER_SCHED_POLICY=${a.sched} mcp-ws serve --workers ${a.workers} --heartbeat-interval-ms ${a.heartbeatMs}\` (demo router, heartbeat timeout 10 s, sweep every second), its processes' RSS from /proc. ` +
      `${a.generators} generator processes on the same machine, ${a.parallel} handshakes at a time each, source addresses 127.0.0.${FIRST_SOURCE}–${FIRST_SOURCE + SOURCES - 1}. ` +
      `Load average (1, 5, 15 min) at the start: ${loadText(load0)}; at the end: ${loadText(load1)}.`,
    '',
  );
  lines.push('## Connect storm', '');
  lines.push(
    markdownTable(
      ['sessions opened', 'failed', 'seconds', 'handshakes/s', 'handshakes in flight', 'upgrade p50 ms', 'upgrade p99 ms', 'initialized p50 ms', 'initialized p99 ms', 'initialized max ms', 'server CPU s', 'server CPU ms per handshake'],
      [
        [
          storm.opened.toLocaleString('en-US'),
          storm.failed,
          fmt(storm.seconds, 1),
          fmt(storm.handshakesPerSecond),
          storm.concurrency,
          fmt(storm.upgradeMs.p50),
          fmt(storm.upgradeMs.p99),
          fmt(storm.initializeMs.p50),
          fmt(storm.initializeMs.p99),
          fmt(storm.initializeMs.max),
          fmt(storm.serverCpuSeconds, 1),
          fmt(storm.opened > 0 ? (storm.serverCpuSeconds * 1000) / storm.opened : NaN, 3),
        ],
      ],
      Array<boolean>(12).fill(true),
    ),
    '',
  );
  if (storm.firstError) lines.push(`First failure: ${storm.firstError}`, '');
  if (storm.opened + storm.failed < a.sessions) {
    lines.push(`The storm stopped at its time bound (--open-seconds ${a.openSeconds}) with ${storm.opened.toLocaleString('en-US')} of ${a.sessions.toLocaleString('en-US')} sessions open; every later phase ran with those.`, '');
  }
  lines.push('## Memory', '');
  lines.push(
    markdownTable(
      ['server processes', 'RSS before MB', 'RSS with sessions, idle MB', 'RSS after the active phase MB', 'total RSS per session KB', 'RSS growth per session KB'],
      [[memory.processes, fmt(memory.rssBeforeBytes / MB, 1), fmt(memory.rssIdleBytes / MB, 1), fmt(memory.rssAfterActiveBytes / MB, 1), fmt(memory.perSessionTotalBytes / KB, 2), fmt(memory.perSessionGrowthBytes / KB, 2)]],
      Array<boolean>(6).fill(true),
    ),
    '',
    `Target: ≤ 10 KB of server RSS per session in total (all processes, baseline included): ${fmt(memory.perSessionTotalBytes / KB, 2)} KB — ${memory.perSessionTotalBytes / KB <= 10 ? 'met' : 'missed'}.`,
    '',
    markdownTable(
      ['process', 'RSS before MB', 'RSS idle MB', 'RSS after active MB', 'heap used before MB', 'heap used idle MB'],
      memory.perProcess.map((p, i) => {
        // processTree lists the primary first, then its workers in fork order (worker ids 1…W).
        const w = i === 0 && memory.perProcess.length > 1 ? undefined : String(memory.perProcess.length > 1 ? i : 1);
        return [
          w === undefined ? `primary (${p.pid})` : `worker ${w} (${p.pid})`,
          fmt(p.rssBefore / MB, 1),
          fmt(p.rssIdle / MB, 1),
          fmt(p.rssAfterActive / MB, 1),
          w !== undefined && memory.heapUsedBefore[w] !== undefined ? fmt(memory.heapUsedBefore[w] / MB, 1) : '—',
          w !== undefined && memory.heapUsedIdle[w] !== undefined ? fmt(memory.heapUsedIdle[w] / MB, 1) : '—',
        ];
      }),
      [false, true, true, true, true, true],
    ),
    '',
  );
  lines.push('## Idle, heartbeats on', '');
  lines.push(
    markdownTable(
      ['seconds', 'sessions open (server)', 'server CPU % of a core', 'sweeps (all workers)', 'sessions per worker', 'CPU ms per sweep', 'wall ms per sweep', 'CPU µs per session per sweep', 'heartbeat timeouts'],
      [
        [
          fmt(idle.seconds, 0),
          fmt(idle.connectionsActive),
          fmt(idle.serverCpuPercent, 1),
          idle.sweeps,
          fmt(idle.sessionsPerWorker, 0),
          fmt(idle.sweepCpuMs, 3),
          fmt(idle.sweepWallMs, 3),
          fmt((idle.sweepCpuMs * 1000) / idle.sessionsPerWorker, 4),
          fmt(idle.heartbeatTimeouts, 0),
        ],
      ],
      Array<boolean>(9).fill(true),
    ),
    '',
    'CPU per sweep is the process CPU time measured around each pass (mcp_ws_sweep_cpu_seconds_total ÷ mcp_ws_sweeps_total); it includes the pings that pass sends. The idle CPU also counts the pongs read and the metrics scrapes.',
    '',
  );
  if (active) {
    lines.push(`## ${a.activePercent} % of sessions active at ${a.activeRate} requests/s each`, '');
    lines.push(
      markdownTable(
        ['active sessions', 'seconds', 'sent', 'answered', 'errors', 'unanswered', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'generator send lag p99 ms', 'server CPU % of a core', 'server CPU µs per request', 'sessions open after'],
        [
          [
            active.sessions,
            a.activeSeconds,
            active.sent.toLocaleString('en-US'),
            active.answered.toLocaleString('en-US'),
            active.errors,
            active.unanswered,
            fmt(active.answered / a.activeSeconds),
            fmt(active.latencyMs.p50),
            fmt(active.latencyMs.p99),
            fmt(active.latencyMs.p999),
            fmt(active.latencyMs.max),
            fmt(active.sendLagP99Ms),
            fmt(active.serverCpuPercent, 0),
            fmt(active.serverCpuUsPerRequest, 1),
            active.stillOpen.toLocaleString('en-US'),
          ],
        ],
        Array<boolean>(15).fill(true),
      ),
      '',
      'Open loop: latency from each request\'s intended send time (the generators\' own lag is included, and shown). The server CPU counts everything its processes did meanwhile, the idle sessions\' heartbeats included.',
      '',
    );
  }
  lines.push(`## \`mcp-ws doctor --connections ${a.sessions} --workers ${a.workers}\` (exit ${doctorStatus})`, '', '```', doctorText, '```');
  return lines.join('\n');
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`scale: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`scale: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
