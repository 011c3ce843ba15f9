/**
 * `mcp-ws top URL`: a running server at a glance, refreshed every second
 * from its /debug/snapshot (plain HTTP; the server needs `--dashboard` or
 * `debugSnapshot: true`). On a terminal it redraws in place until q or
 * Ctrl-C; otherwise (a pipe, a log) it prints one frame per interval,
 * `--once` prints one and exits.
 */
import type { ServerSnapshot } from './snapshot.js';

/** Options of {@link runTop}. */
export interface TopOptions {
  headers: Record<string, string>;
  intervalMs: number;
  once: boolean;
  /** Frames before exiting (0: until interrupted). */
  count: number;
}

/** The /debug/snapshot URL of a server given by its ws(s):// endpoint URL or its http(s):// base. */
export function snapshotUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`not a URL: ${url}`);
  }
  if (u.protocol === 'ws:') u.protocol = 'http:';
  else if (u.protocol === 'wss:') u.protocol = 'https:';
  else if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`expected a ws://, wss://, http:// or https:// URL, got ${u.protocol}`);
  u.pathname = '/debug/snapshot';
  u.search = '';
  return u.toString();
}

const num = (n: number | null | undefined, digits = 0): string =>
  n === null || n === undefined || !Number.isFinite(n) ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (b: number): string => `${num(b / 1048576, 1)} MiB`;
const pad = (s: string, n: number): string => (s.length >= n ? s.slice(0, n) : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

/** One frame of text for `s` (no escape codes), at most `width` columns. */
export function renderTop(s: ServerSnapshot, source: string, width = 100): string {
  const r = s.rates;
  const errors = Object.entries(s.errors).filter(([, v]) => v > 0);
  const errTotal = errors.reduce((a, [, v]) => a + v, 0);
  const lines: string[] = [];
  lines.push(`mcp-ws top — ${source} — ${new Date(s.time).toISOString().slice(11, 19)} UTC${s.draining ? ' — DRAINING' : ''}`);
  lines.push(`pid ${s.process.pid}  up ${num(s.process.uptimeSec)} s  cpu ${num(s.process.cpuPercent, 1)} %  rss ${mib(s.process.rssBytes)}  heap ${mib(s.process.heapUsedBytes)}  tracing ${s.tracing ? 'on' : 'off'}`);
  lines.push('');
  lines.push(`sessions  ws ${num(s.sessions)}  http ${num(s.httpSessions)}  slots ${num(s.slots)}  opened ${num(s.connectionsOpened)}`);
  lines.push(`messages  in ${r ? `${num(r.messagesInPerSec, 1)}/s` : '-'}  out ${r ? `${num(r.messagesOutPerSec, 1)}/s` : '-'}  requests ${num(s.requests)}  in flight ${num(s.requestsInFlight)}`);
  lines.push(`latency   last interval p50 ${r ? num(r.p50Ms, 2) : '-'} ms  p99 ${r ? num(r.p99Ms, 2) : '-'} ms   since start p50 ${num(s.latency.p50Ms, 2)}  p99 ${num(s.latency.p99Ms, 2)}  p99.9 ${num(s.latency.p999Ms, 2)} ms`);
  const eld = s.eventLoopDelay;
  lines.push(`loop      delay p50 ${eld ? num(eld.p50Ms, 1) : '-'} ms  p99 ${eld ? num(eld.p99Ms, 1) : '-'} ms  max ${eld ? num(eld.maxMs, 1) : '-'} ms`);
  lines.push(`errors    ${num(errTotal)} total${r ? `, ${num(r.errorsPerSec, 1)}/s` : ''}${errors.length ? `  (${errors.map(([k, v]) => `${k} ${num(v)}`).join(', ')})` : ''}`);
  if (s.compressionRatio !== null) lines.push(`compress  out/in ${num(s.compressionRatio, 3)}`);
  lines.push('');
  lines.push(`${pad('method', 32)}${lpad('requests', 10)}${lpad('mean ms', 10)}${lpad('p50 ms', 10)}${lpad('p99 ms', 10)}`);
  for (const m of s.methods.slice(0, 12)) {
    lines.push(`${pad(m.method, 32)}${lpad(num(m.count), 10)}${lpad(num(m.meanMs, 2), 10)}${lpad(num(m.p50Ms, 2), 10)}${lpad(num(m.p99Ms, 2), 10)}`);
  }
  const h = s.handler as { upstreams?: Array<{ name: string; active: number; requests: number; breaker?: { state?: string } }> } | null;
  if (h && Array.isArray(h.upstreams)) {
    lines.push('');
    lines.push(`${pad('upstream', 32)}${lpad('active', 10)}${lpad('requests', 10)}  breaker`);
    for (const u of h.upstreams.slice(0, 12)) lines.push(`${pad(String(u.name), 32)}${lpad(num(u.active), 10)}${lpad(num(u.requests), 10)}  ${u.breaker?.state ?? '-'}`);
  }
  return lines.map((l) => (l.length > width ? l.slice(0, width) : l)).join('\n');
}

/** Reads one snapshot; a failure is an Error with one readable line. */
export async function fetchSnapshot(url: string, headers: Record<string, string>): Promise<ServerSnapshot> {
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  } catch (err) {
    const c = (err as { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } }).cause;
    const cause = c?.code ?? c?.errors?.[0]?.code ?? c?.message;
    throw new Error(`cannot reach ${url}: ${cause ?? (err as Error).message}`);
  }
  if (res.status === 404) throw new Error(`${url}: 404 — start the server with --dashboard (or debugSnapshot: true in its config)`);
  if (res.status === 401) throw new Error(`${url}: 401 — the server wants a credential: -H "Authorization: Bearer <token>"`);
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status} ${(await res.text()).split('\n')[0]}`);
  return (await res.json()) as ServerSnapshot;
}

/** Runs the view until interrupted (or for `count` frames, or once). */
export async function runTop(url: string, options: TopOptions, out: NodeJS.WriteStream = process.stdout, input: NodeJS.ReadStream = process.stdin): Promise<void> {
  const target = snapshotUrl(url);
  const tty = out.isTTY === true && !options.once;
  // The first read fails loudly: a wrong URL or a missing credential is not something to redraw.
  let snap = await fetchSnapshot(target, options.headers);
  let stop = false;
  let wake: (() => void) | undefined;
  const quit = (): void => {
    stop = true;
    wake?.();
  };
  const onKey = (d: Buffer): void => {
    if (d.includes(0x71) || d.includes(0x03)) quit(); // q, Ctrl-C
  };
  if (tty) {
    out.write('\x1b[?1049h\x1b[?25l'); // alternate screen, hide cursor
    if (input.isTTY) {
      input.setRawMode(true);
      input.resume();
      input.on('data', onKey);
    }
  }
  process.once('SIGINT', quit);
  process.once('SIGTERM', quit);
  try {
    let frames = 0;
    let note = '';
    for (;;) {
      const text = renderTop(snap, target, tty ? out.columns || 100 : 120) + (note ? `\n\n${note}` : '');
      if (tty) out.write(`\x1b[H\x1b[2J${text}\n${'\n'}q to quit`);
      else out.write(`${text}\n\n`);
      frames++;
      if (options.once || (options.count > 0 && frames >= options.count) || stop) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, options.intervalMs).unref();
      });
      if (stop) break;
      try {
        snap = await fetchSnapshot(target, options.headers);
        note = '';
      } catch (err) {
        note = `(${(err as Error).message}; showing the last snapshot)`;
      }
    }
  } finally {
    process.removeListener('SIGINT', quit);
    process.removeListener('SIGTERM', quit);
    if (tty) {
      if (input.isTTY) {
        input.removeListener('data', onKey);
        input.setRawMode(false);
        input.pause();
      }
      out.write('\x1b[?25h\x1b[?1049l');
    }
  }
}
