/**
 * CPU of a process *and every descendant* from /proc (Linux), for servers
 * that do their work in child processes (a gateway and its stdio upstreams):
 * the sum over the tree of utime + stime + cutime + cstime. cutime/cstime
 * carry the time of children that exited and were reaped, so a child that
 * ends inside a window is still counted; differences over a window are what
 * the benchmark reports.
 *
 * /proc/<pid>/stat: `pid (comm) state ppid … utime(14) stime(15) cutime(16)
 * cstime(17) … starttime(22)`, in clock ticks; comm may hold spaces and
 * parentheses, so fields are read after the last ')'.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** One process as /proc shows it. */
export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, clock ticks. */
  self: number;
  /** cutime + cstime (reaped children), clock ticks. */
  reaped: number;
  /** Start time since boot, clock ticks: with pid, identifies the process. */
  start: number;
}

let ticks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, 100 when that fails). */
export function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** /proc/<pid>/stat of one process, or undefined when it is gone. */
export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): field n is f[n - 3].
  return {
    pid,
    ppid: Number(f[1]),
    self: Number(f[11]) + Number(f[12]),
    reaped: Number(f[13]) + Number(f[14]),
    start: Number(f[19]),
  };
}

/** Every live process, by pid. */
function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const s = readStat(Number(name));
    if (s !== undefined) out.push(s);
  }
  return out;
}

/** `root` and its live descendants (root first), or [] when root is gone. */
export function processTree(root: number): ProcStat[] {
  const stats = allStats();
  const byParent = new Map<number, ProcStat[]>();
  let rootStat: ProcStat | undefined;
  for (const s of stats) {
    if (s.pid === root) rootStat = s;
    const list = byParent.get(s.ppid);
    if (list) list.push(s);
    else byParent.set(s.ppid, [s]);
  }
  if (rootStat === undefined) return [];
  const out: ProcStat[] = [rootStat];
  for (let i = 0; i < out.length; i++) out.push(...(byParent.get(out[i]!.pid) ?? []));
  return out;
}

/** One reading of a tree's CPU, in µs. */
export interface TreeSample {
  /** The root and every descendant, reaped ones included. */
  total: number;
  /** The root process's own time. */
  root: number;
  /** Live processes in the tree, root included. */
  processes: number;
}

/** Reads the CPU of the tree under `root`, in µs. */
export function sampleTree(root: number): TreeSample {
  const tree = processTree(root);
  const perTick = 1e6 / clockTicks();
  let total = 0;
  for (const s of tree) total += s.self + s.reaped;
  return { total: total * perTick, root: tree.length > 0 ? tree[0]!.self * perTick : 0, processes: tree.length };
}

/**
 * A process tree's CPU over a window, like CpuWindow (begin(), end() → % of
 * one core), split into the root process and its descendants.
 */
export class TreeCpuWindow {
  private s0: TreeSample = { total: 0, root: 0, processes: 0 };
  private t0 = 0;
  /** Whole tree, % of one core. */
  percent = 0;
  /** The root process alone, % of one core. */
  rootPercent = 0;
  /** Most live processes seen in the tree at begin or end. */
  processes = 0;

  constructor(readonly pid: number) {}

  begin(): void {
    this.s0 = sampleTree(this.pid);
    this.t0 = performance.now();
  }

  end(): void {
    const s1 = sampleTree(this.pid);
    const wallMs = performance.now() - this.t0;
    const pct = (us: number): number => Math.round((us / 1000 / wallMs) * 1000) / 10;
    this.percent = pct(s1.total - this.s0.total);
    this.rootPercent = pct(s1.root - this.s0.root);
    this.processes = Math.max(this.s0.processes, s1.processes);
  }
}

/** Sends `signal` to each listed process that is still the same process (pid and start time). */
export function signalProcesses(list: readonly ProcStat[], signal: NodeJS.Signals): number {
  let n = 0;
  for (const p of list) {
    const now = readStat(p.pid);
    if (now === undefined || now.start !== p.start) continue;
    try {
      process.kill(p.pid, signal);
      n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

/** The listed processes that are still alive (same pid and start time). */
export function survivors(list: readonly ProcStat[]): ProcStat[] {
  return list.filter((p) => {
    const now = readStat(p.pid);
    return now !== undefined && now.start === p.start;
  });
}
