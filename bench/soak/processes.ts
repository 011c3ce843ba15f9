/**
 * The processes under soak: `mcp-ws serve` and `mcp-ws gateway` started from
 * the repository's bin/mcp-ws.js, their ready lines, their RSS read from
 * /proc, their exits (an exit the soak did not ask for is a crash), and a
 * bounded tail of what they wrote to stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

const STDERR_TAIL_LINES = 20;
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

export class ServedProcess {
  url = '';
  crashes = 0;
  exit: string | undefined;
  stopping = false;
  /** Last stderr lines that are not JSON log lines (a crash prints its stack trace there). */
  readonly stderrTail: string[] = [];
  /** JSON log lines on stderr, by level name. */
  readonly logLines: Record<string, number> = {};
  readonly rss: number[] = [];
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: 'server' | 'gateway',
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = signal ? `signal ${signal}` : `code ${code}`;
        if (!this.stopping) this.crashes++;
        resolve();
      }),
    );
    let partial = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!.slice(-4096);
      for (const l of lines) {
        if (l.trim() === '') continue;
        // Log lines are counted by level; anything else (a crash's stack trace) is kept, the last few.
        const level = /^\{"level":(\d+)/.exec(l);
        if (level) {
          const name = LEVELS[Number(level[1])] ?? `level-${level[1]}`;
          this.logLines[name] = (this.logLines[name] ?? 0) + 1;
          continue;
        }
        this.stderrTail.push(l.slice(0, 500));
        if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
      }
    });
  }

  /** Spawns `node bin args…` and waits (bounded) for the ws:// URL on its ready line. */
  static start(name: 'server' | 'gateway', bin: string, args: string[], env: Record<string, string> = {}): Promise<ServedProcess> {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new ServedProcess(name, child);
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => fail(`${name} printed no ready line within 20 s`), 20_000);
      const fail = (why: string): void => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`${why}${p.stderrTail.length ? `: ${p.stderrTail.join(' | ')}` : ''}`));
      };
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (chunk: string) => {
        if (p.url) return;
        out = (out + chunk).slice(-4096);
        const m = /(ws:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          p.url = m[1]!;
          resolve(p);
        }
      });
      child.once('exit', () => {
        if (!p.url) setTimeout(() => fail(`${name} exited (${p.exit}) before it was ready`), 100);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Port of the ws:// URL. */
  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Current RSS in MiB from /proc (Linux), recorded in `rss`; undefined when not readable. */
  sampleRss(): number | undefined {
    if (!this.alive) return undefined;
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      if (!m) return undefined;
      const mib = Math.round((Number(m[1]) / 1024) * 10) / 10;
      this.rss.push(mib);
      return mib;
    } catch {
      return undefined;
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
  async stop(graceMs = 15_000): Promise<string> {
    this.stopping = true;
    if (this.alive) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exit ?? 'unknown';
  }
}

/** Reads a gauge from the Prometheus text at http://127.0.0.1:port/metrics, summed over its labels; undefined when unavailable. */
export async function scrapeGauge(port: number, name: string, headers: Record<string, string> = {}): Promise<number | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers, signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return undefined;
    const text = await res.text();
    let sum: number | undefined;
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum = (sum ?? 0) + Number(m[1]);
    return sum;
  } catch {
    return undefined;
  }
}

/** Non-zero error and rejection counters from /metrics, e.g. { 'errors:heartbeat_timeout': 3, 'rejected:auth': 40 }. */
export async function scrapeCounters(port: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers, signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return out;
    const re = /^mcp_ws_(errors|upgrade_rejected)_total\{(?:kind|reason)="([^"]+)"\} (\S+)$/gm;
    for (const m of (await res.text()).matchAll(re)) {
      const v = Number(m[3]);
      if (v > 0) out[`${m[1] === 'errors' ? 'errors' : 'rejected'}:${m[2]}`] = v;
    }
  } catch {
    /* unavailable: reported as no counters */
  }
  return out;
}
