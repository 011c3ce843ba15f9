/**
 * `mcp-ws doctor [--connections N]`: can this machine hold N concurrent
 * sessions? Reads the limits the seed's OS tuning list names, and for each
 * says what it is, what N needs, and the exact command that fixes it.
 *
 *   readSystem()  the readings: /proc/self/limits (open files, soft and hard),
 *                 /proc/sys (fs.file-max, fs.nr_open, net.core.somaxconn,
 *                 net.ipv4.tcp_max_syn_backlog, ip_local_port_range,
 *                 tcp_fin_timeout, net.core.rmem_max / wmem_max), cores, memory
 *   diagnose()    pure: readings + target → checks, each ok | short | advice
 *   runDoctor()   prints the table (or --json); exit 1 when anything is short
 *
 * "short" means N sessions will fail (descriptors, memory, accept queue);
 * "advice" is the seed's tuning for heavy traffic that a server can run
 * without (socket buffer caps, FIN timeout, the port range a proxy or load
 * generator needs per destination). Per-session memory is the measured
 * figure of docs/PERFORMANCE.md (≈ 9.2 KB per idle initialized session,
 * rounded up to 12 KB) plus a base per worker process.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';

/** What the machine says (undefined: not readable here, e.g. not Linux). */
export interface Readings {
  readonly openFilesSoft: number | undefined;
  readonly openFilesHard: number | undefined;
  readonly fileMax: number | undefined;
  readonly nrOpen: number | undefined;
  readonly somaxconn: number | undefined;
  readonly synBacklog: number | undefined;
  readonly portRange: readonly [number, number] | undefined;
  readonly finTimeout: number | undefined;
  readonly rmemMax: number | undefined;
  readonly wmemMax: number | undefined;
  readonly cores: number;
  readonly memoryBytes: number;
}

/** What the sessions need. */
export interface Target {
  readonly connections: number;
  /** Server processes (--workers); the connections are spread over them. */
  readonly workers: number;
  /** The listen backlog (the server's `backlog` setting). */
  readonly backlog: number;
}

export type Status = 'ok' | 'short' | 'advice' | 'unknown';

export interface Check {
  readonly name: string;
  readonly value: string;
  readonly needed: string;
  readonly status: Status;
  /** The command (or setting) that fixes it, when it is not ok. */
  readonly fix?: string;
}

/** Bytes per idle initialized session, rounded up from the measured 9.2 KB. */
export const SESSION_BYTES = 12 * 1024;
/** Resident memory of one worker process before sessions. */
export const WORKER_BASE_BYTES = 100 * 1024 * 1024;
/** Descriptors a process needs beyond its sessions (listeners, Redis, files, upstreams). */
const FD_MARGIN = 1024;
/** The seed's socket buffer caps and FIN timeout. */
const SEED_BUFFER_MAX = 16 * 1024 * 1024;
const SEED_FIN_TIMEOUT = 30;

function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim().split(/\s+/)[0]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The soft and hard "Max open files" of this process. */
function readOpenFiles(): [number | undefined, number | undefined] {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line ?? '').slice('Max open files'.length).trim().split(/\s+/);
    const num = (s: string | undefined): number | undefined => (s === 'unlimited' ? Infinity : s === undefined || s === '' ? undefined : Number(s));
    return [num(soft), num(hard)];
  } catch {
    return [undefined, undefined];
  }
}

/** Reads this machine. */
export function readSystem(): Readings {
  const [openFilesSoft, openFilesHard] = readOpenFiles();
  let portRange: [number, number] | undefined;
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isFinite(lo) && Number.isFinite(hi)) portRange = [lo!, hi!];
  } catch {
    portRange = undefined;
  }
  return {
    openFilesSoft,
    openFilesHard,
    fileMax: readNumber('/proc/sys/fs/file-max'),
    nrOpen: readNumber('/proc/sys/fs/nr_open'),
    somaxconn: readNumber('/proc/sys/net/core/somaxconn'),
    synBacklog: readNumber('/proc/sys/net/ipv4/tcp_max_syn_backlog'),
    portRange,
    finTimeout: readNumber('/proc/sys/net/ipv4/tcp_fin_timeout'),
    rmemMax: readNumber('/proc/sys/net/core/rmem_max'),
    wmemMax: readNumber('/proc/sys/net/core/wmem_max'),
    cores: availableParallelism(),
    memoryBytes: totalmem(),
  };
}

const fmt = (n: number): string => (n === Infinity ? 'unlimited' : n.toLocaleString('en-US'));
const mib = (b: number): string => `${Math.ceil(b / 1024 / 1024).toLocaleString('en-US')} MiB`;

/** At least `need`: ok, else `status` with `fix`; unknown when unreadable. */
function atLeast(name: string, value: number | undefined, need: number, status: Status, fix: string): Check {
  if (value === undefined) return { name, value: 'not readable here', needed: `≥ ${fmt(need)}`, status: 'unknown' };
  if (value >= need) return { name, value: fmt(value), needed: `≥ ${fmt(need)}`, status: 'ok' };
  return { name, value: fmt(value), needed: `≥ ${fmt(need)}`, status, fix };
}

/** The checks for `target` on `r`. Pure. */
export function diagnose(r: Readings, target: Target): Check[] {
  const perProcess = Math.ceil(target.connections / target.workers) + FD_MARGIN;
  const total = target.connections + FD_MARGIN * target.workers;
  const checks: Check[] = [];
  checks.push(atLeast('open files per process (soft)', r.openFilesSoft, perProcess, 'short', `ulimit -n ${perProcess}  (in the shell or service that starts mcp-ws)`));
  checks.push(
    atLeast(
      'open files per process (hard)',
      r.openFilesHard,
      perProcess,
      'short',
      `LimitNOFILE=${perProcess} in the systemd unit, or "* hard nofile ${perProcess}" in /etc/security/limits.conf (then log in again)`,
    ),
  );
  checks.push(atLeast('fs.nr_open (per-process ceiling)', r.nrOpen, perProcess, 'short', `sudo sysctl -w fs.nr_open=${Math.max(perProcess, 1_048_576)}`));
  checks.push(atLeast('fs.file-max (system-wide)', r.fileMax, total, 'short', `sudo sysctl -w fs.file-max=${Math.max(total * 2, 2_097_152)}`));
  checks.push(atLeast('net.core.somaxconn (accept queue cap)', r.somaxconn, target.backlog, 'short', `sudo sysctl -w net.core.somaxconn=${Math.max(target.backlog, 65535)}`));
  checks.push(atLeast('net.ipv4.tcp_max_syn_backlog', r.synBacklog, target.backlog, 'short', `sudo sysctl -w net.ipv4.tcp_max_syn_backlog=${Math.max(target.backlog, 8192)}`));
  const memNeed = target.connections * SESSION_BYTES + target.workers * WORKER_BASE_BYTES;
  checks.push({
    name: 'memory',
    value: mib(r.memoryBytes),
    needed: `≥ ${mib(memNeed)} (${fmt(target.connections)} × ${SESSION_BYTES / 1024} KB + ${target.workers} × ${mib(WORKER_BASE_BYTES)})`,
    status: r.memoryBytes >= memNeed ? 'ok' : 'short',
    ...(r.memoryBytes >= memNeed ? {} : { fix: `fewer connections per machine: about ${fmt(Math.max(0, Math.floor((r.memoryBytes - target.workers * WORKER_BASE_BYTES) / SESSION_BYTES)))} fit here` }),
  });
  checks.push({
    name: 'cores',
    value: String(r.cores),
    needed: `--workers ${target.workers}`,
    status: target.workers <= r.cores ? 'ok' : 'advice',
    ...(target.workers <= r.cores ? {} : { fix: `--workers ${r.cores} (more workers than cores only adds switching)` }),
  });
  // Advice: what heavy traffic wants, without which a server still runs.
  const ports = r.portRange === undefined ? undefined : r.portRange[1] - r.portRange[0] + 1;
  checks.push({
    ...atLeast(
      'net.ipv4.ip_local_port_range (a proxy or load generator: per destination)',
      ports,
      target.connections,
      'advice',
      `sudo sysctl -w net.ipv4.ip_local_port_range="1024 65535", and several source addresses (127.0.0.x) or upstream addresses past ~64,000`,
    ),
    ...(r.portRange === undefined ? {} : { value: `${r.portRange[0]}–${r.portRange[1]} (${fmt(ports!)})` }),
  });
  checks.push(
    r.finTimeout === undefined
      ? { name: 'net.ipv4.tcp_fin_timeout', value: 'not readable here', needed: `≤ ${SEED_FIN_TIMEOUT} s`, status: 'unknown' }
      : r.finTimeout <= SEED_FIN_TIMEOUT
        ? { name: 'net.ipv4.tcp_fin_timeout', value: `${r.finTimeout} s`, needed: `≤ ${SEED_FIN_TIMEOUT} s`, status: 'ok' }
        : { name: 'net.ipv4.tcp_fin_timeout', value: `${r.finTimeout} s`, needed: `≤ ${SEED_FIN_TIMEOUT} s`, status: 'advice', fix: `sudo sysctl -w net.ipv4.tcp_fin_timeout=${SEED_FIN_TIMEOUT}` },
  );
  // Node.js cannot set SO_RCVBUF/SO_SNDBUF on a socket: the kernel's caps and autotuning decide.
  checks.push(atLeast('net.core.rmem_max (socket receive buffer cap)', r.rmemMax, SEED_BUFFER_MAX, 'advice', `sudo sysctl -w net.core.rmem_max=${SEED_BUFFER_MAX}`));
  checks.push(atLeast('net.core.wmem_max (socket send buffer cap)', r.wmemMax, SEED_BUFFER_MAX, 'advice', `sudo sysctl -w net.core.wmem_max=${SEED_BUFFER_MAX}`));
  return checks;
}

/** The report as text lines. */
export function formatChecks(checks: readonly Check[], target: Target): string {
  const mark: Record<Status, string> = { ok: 'ok    ', short: 'SHORT ', advice: 'advice', unknown: '?     ' };
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = [`mcp-ws doctor: ${fmt(target.connections)} connections over ${target.workers} worker process(es), listen backlog ${target.backlog}`, ''];
  for (const c of checks) {
    lines.push(`${mark[c.status]}  ${c.name.padEnd(width)}  ${c.value}  (needs ${c.needed})`);
    if (c.fix !== undefined) lines.push(`${' '.repeat(8)}fix: ${c.fix}`);
  }
  const short = checks.filter((c) => c.status === 'short').length;
  lines.push('', short === 0 ? 'Nothing is short for this target.' : `${short} check(s) short: apply the fixes above, then run mcp-ws doctor again.`);
  return lines.join('\n');
}

/** `mcp-ws doctor`: prints the report; returns the exit code (1 when something is short). */
export function runDoctor(opts: { connections?: number; workers?: number | 'auto'; backlog?: number; json?: boolean }): number {
  const r = readSystem();
  const workers = opts.workers === 'auto' || opts.workers === undefined ? Math.max(1, r.cores) : opts.workers;
  const target: Target = { connections: opts.connections ?? 10_000, workers, backlog: opts.backlog ?? 1024 };
  const checks = diagnose(r, target);
  if (opts.json) process.stdout.write(`${JSON.stringify({ target, readings: r, checks }, (_k, v: unknown) => (v === Infinity ? 'unlimited' : v), 2)}\n`);
  else process.stdout.write(`${formatChecks(checks, target)}\n`);
  return checks.some((c) => c.status === 'short') ? 1 : 0;
}
