/**
 * Memory per idle session, against the raw ws floor, in one run:
 *
 *   npm run bench:connections -- 10000
 *
 * For each server — mcp-ws native router (heartbeats on), then a raw ws
 * server — in its own child process started with --expose-gc: measure RSS and
 * heap after a forced GC, open N initialized sessions from client processes
 * (source addresses spread over 127.0.0.x, so N can pass one address's
 * ephemeral ports), let them idle through a few heartbeat rounds, measure
 * again, and report the growth per 1,000 sessions.
 *
 * Open files: every session is a file descriptor in the server and in a
 * client. Node cannot raise its own limit, so the children are started by a
 * shell that raises the soft `ulimit -n` up to the hard limit first; past the
 * hard limit, raise it before running (as root: `ulimit -n 1048576`, or
 * LimitNOFILE= for a systemd unit, `--ulimit nofile=…` for docker).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { TargetProcess, spawnNode, type MemorySample } from './lib/target-process.js';
import { fmt, markdownTable } from './lib/markdown.js';
import type { ClientCommand, ClientReport } from './connections-client.js';

/** Sessions one client process holds (its own descriptors count against its limit). */
const PER_CLIENT = 15_000;
/** Descriptors a Node process uses besides its sockets. */
const FD_SLACK = 200;
const MB = 1024 * 1024;

function usage(message: string): never {
  process.stderr.write(`bench/connections: ${message}\n`);
  process.exit(1);
}

/** Soft and hard "Max open files" of this process. */
function fdLimits(): { soft: number; hard: number } {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').replace('Max open files', '').trim().split(/\s+/);
  const n = (v: string | undefined): number => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: n(soft), hard: n(hard) };
}

/** Whether a shell may raise its soft limit to `n` (within the hard limit, or as a privileged user). */
function canRaiseTo(n: number): boolean {
  return spawnSync('/bin/sh', ['-c', `ulimit -n ${n}`], { stdio: 'ignore' }).status === 0;
}

interface Measured {
  server: string;
  sessions: number;
  failed: number;
  openSeconds: number;
  before: MemorySample;
  after: MemorySample;
  rssPer1000: number;
  heapPer1000: number;
  firstError: string | undefined;
}

async function openFromClients(url: string, n: number): Promise<{ clients: ChildProcess[]; opened: number; failed: number; seconds: number; error: string | undefined }> {
  const clients: ChildProcess[] = [];
  const waits: Array<Promise<ClientReport>> = [];
  for (let offset = 0; offset < n; offset += PER_CLIENT) {
    const count = Math.min(PER_CLIENT, n - offset);
    const child = spawnNode(new URL('./connections-client.js', import.meta.url), { fdLimit: count + FD_SLACK });
    clients.push(child);
    waits.push(
      new Promise<ClientReport>((resolve, reject) => {
        child.once('message', (m: ClientReport) => resolve(m));
        child.once('exit', (code) => reject(new Error(`a client process exited (${code}) before opening its sessions`)));
      }),
    );
    child.send({ type: 'open', url, count, offset, timeoutMs: 30_000 } satisfies ClientCommand);
  }
  const reports = await Promise.all(waits);
  return {
    clients,
    opened: reports.reduce((s, r) => s + r.opened, 0),
    failed: reports.reduce((s, r) => s + r.failed, 0),
    seconds: Math.max(...reports.map((r) => r.seconds)),
    error: reports.find((r) => r.error !== undefined)?.error,
  };
}

async function closeClients(clients: ChildProcess[]): Promise<void> {
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
          c.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          c.send({ type: 'close' } satisfies ClientCommand);
        }),
    ),
  );
}

async function measureServer(name: string, script: string, n: number, settleMs: number, env: Record<string, string>): Promise<Measured> {
  const target = await TargetProcess.start(name, new URL(script, import.meta.url), {
    execArgv: ['--expose-gc'],
    fdLimit: n + FD_SLACK,
    env,
  });
  try {
    await sleep(500);
    const before = await target.memory(true);
    process.stderr.write(`  ${name}: opening ${n.toLocaleString('en-US')} sessions…\n`);
    const opened = await openFromClients(target.url, n);
    try {
      await sleep(settleMs);
      const after = await target.memory(true);
      const per = (a: number, b: number): number => (opened.opened > 0 ? ((b - a) / opened.opened) * 1000 : NaN);
      const m: Measured = {
        server: name,
        sessions: opened.opened,
        failed: opened.failed,
        openSeconds: Math.round(opened.seconds * 10) / 10,
        before,
        after,
        rssPer1000: per(before.rss, after.rss),
        heapPer1000: per(before.heapUsed, after.heapUsed),
        firstError: opened.error,
      };
      process.stderr.write(
        `  ${name}: ${opened.opened} open (${opened.failed} failed) in ${m.openSeconds} s; server counts ${after.sessions}; ` +
          `RSS +${fmt((after.rss - before.rss) / MB, 1)} MB, heap +${fmt((after.heapUsed - before.heapUsed) / MB, 1)} MB\n`,
      );
      return m;
    } finally {
      await closeClients(opened.clients);
    }
  } finally {
    await target.stop();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: { settle: { type: 'string', default: '6' }, 'heartbeat-ms': { type: 'string', default: '2000' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    usage(`${(err as Error).message} (usage: npm run bench:connections -- N [--settle S] [--heartbeat-ms MS])`);
  }
  const n = Number(parsed.positionals[0] ?? 10_000);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) usage(`N should be an integer from 1 to 1000000, got "${parsed.positionals[0]}"`);
  const settle = Number(parsed.values.settle);
  const heartbeat = Number(parsed.values['heartbeat-ms']);
  if (!Number.isFinite(settle) || settle < 0) usage(`--settle should be seconds ≥ 0, got "${parsed.values.settle}"`);
  if (!Number.isInteger(heartbeat) || heartbeat < 0) usage(`--heartbeat-ms should be an integer ≥ 0, got "${parsed.values['heartbeat-ms']}"`);

  const need = n + FD_SLACK;
  const { soft, hard } = fdLimits();
  if (need > soft && !canRaiseTo(need)) {
    usage(
      `${n} sessions need about ${need} open files in the server process, but \`ulimit -n\` is ${soft} (hard ${hard}) and cannot be raised from here. ` +
        `Raise it first (as root: \`ulimit -n ${need}\`; systemd: LimitNOFILE=; docker: --ulimit nofile=${need}:${need}) or ask for at most ${Math.max(0, hard - FD_SLACK)} sessions.`,
    );
  }
  const ports = 28_000 * 250;
  if (n > ports) usage(`${n} sessions exceed the ${ports} source ports of 127.0.0.2–251`);

  const started = new Date();
  const command = `npm run bench:connections -- ${process.argv.slice(2).join(' ')}`.trim();
  process.stderr.write(`connections: ${n} idle sessions per server, heartbeat every ${heartbeat} ms (native), ${settle} s idle before measuring\n`);
  const env = { HEARTBEAT_INTERVAL_MS: String(heartbeat) };
  const results = [
    await measureServer('mcp-ws native', './targets/native.js', n, settle * 1000, env),
    await measureServer('raw ws', './targets/raw-ws.js', n, settle * 1000, env),
  ];
  const floor = results[1]!;
  const table = markdownTable(
    ['server', 'sessions', 'RSS before MB', 'RSS after MB', 'RSS MB / 1,000', 'heap before MB', 'heap after MB', 'heap MB / 1,000', 'RSS × raw ws'],
    results.map((r) => [
      r.server,
      `${r.sessions.toLocaleString('en-US')}${r.failed > 0 ? ` (${r.failed} failed)` : ''}`,
      fmt(r.before.rss / MB, 1),
      fmt(r.after.rss / MB, 1),
      fmt(r.rssPer1000 / MB, 2),
      fmt(r.before.heapUsed / MB, 1),
      fmt(r.after.heapUsed / MB, 1),
      fmt(r.heapPer1000 / MB, 2),
      fmt(r.rssPer1000 / floor.rssPer1000, 2),
    ]),
    [false, true, true, true, true, true, true, true, true],
  );
  const native = results[0]!;
  const verdict = `Target: ≤ 20 MB RSS per 1,000 idle initialized sessions (native): ${fmt(native.rssPer1000 / MB, 2)} MB — ${native.rssPer1000 / MB <= 20 ? 'met' : 'missed'}.`;
  const md = [
    `# Idle sessions, ${started.toISOString()}`,
    '',
    `Command: \`${command}\``,
    '',
    `Node ${process.version}. Each server in its own process (--expose-gc); memory after a forced GC, before and ${settle} s after opening the sessions.`,
    '',
    table,
    '',
    verdict,
    ...results.filter((r) => r.firstError !== undefined).map((r) => `\nFirst failure (${r.server}): ${r.firstError}`),
  ].join('\n');
  process.stdout.write(`\n${md}\n`);
  const dir = fileURLToPath(new URL('../../bench/results', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const base = `${dir}/connections-${started.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}`;
  writeFileSync(`${base}.md`, `${md}\n`);
  writeFileSync(`${base}.json`, `${JSON.stringify({ started: started.toISOString(), command, node: process.version, n, settle, heartbeat, results }, null, 2)}\n`);
  process.stderr.write(`connections: wrote ${relative(process.cwd(), base)}.md and .json\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/connections: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
