/**
 * The cluster's primary: `mcp-ws serve --workers N` (and `gateway`) forks N
 * workers of the same command (node:cluster), which share the listening port,
 * and keeps them:
 *
 *   start      fork N; print one ready line when all N listen (a worker
 *              that exits before it listens fails the start: exit 1)
 *   crash      a worker that exits unexpectedly is logged and replaced after
 *              a full-jitter backoff (100 ms doubling to 30 s; reset once a
 *              worker has lived stableAfterMs), so a crash loop costs one
 *              fork per window, not a fork bomb
 *   SIGTERM /  state "draining" to every worker (/readyz 503), SIGTERM to
 *   SIGINT     each (each drains: in-flight requests finish, sessions close
 *              1001, exit 0), wait for all, exit 0 (1 if one failed; a
 *              second signal kills them and exits 1)
 *   SIGUSR2    rolling restart, one worker at a time: fork its replacement,
 *              wait until it listens, then SIGTERM the old one and wait for
 *              its exit. The listener never closes (the primary holds it),
 *              so clients of the old worker reconnect to the others.
 *   SIGHUP     forwarded to every worker (TLS reload)
 *
 * It answers the workers' requests (messages.ts): /metrics of any worker is
 * every worker's text merged (merge-metrics.ts) plus the primary's own
 * cluster metrics; maxConnectionsPerIp is counted here across workers (a
 * dead worker's slots are given back with it); state changes are broadcast.
 * Workers ignore SIGINT: a terminal's Ctrl-C reaches the whole process
 * group, and the primary alone decides how they stop.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { fullJitterDelay } from '../policy/backoff.js';
import { mergeExpositions, type WorkerText } from './merge-metrics.js';
import { isOurs, type PrimaryMessage, type WorkerMessage } from './messages.js';

export interface PrimaryOptions {
  readonly workers: number;
  readonly logger: Logger;
  /** Called once when every worker listens, with the first worker's ready line. */
  readonly onReady: (line: string, workers: number) => void;
  /** Time a worker must live for its crash not to grow the backoff. Default 30,000 ms. */
  readonly stableAfterMs?: number;
  /** Longest a worker may take to exit after SIGTERM before it is killed. Default 60,000 ms. */
  readonly stopTimeoutMs?: number;
  /** Longest a scrape waits for the workers' texts. Default 3,000 ms. */
  readonly scrapeTimeoutMs?: number;
}

/** Requests one scrape answers at most; a request beyond waits out its timeout and falls back. */
const MAX_SCRAPE_WAITING = 1_024;

const BACKOFF = { initialDelayMs: 100, maxDelayMs: 30_000, multiplier: 2 };

interface Scrape {
  /** The workers waiting for this scrape, each with its own nonce, echoed in the reply. */
  readonly waiting: Array<{ readonly from: Worker; readonly n: number }>;
  readonly texts: WorkerText[];
  readonly expected: Set<number>;
  readonly timer: NodeJS.Timeout;
}

/** Runs the primary until the cluster stops; resolves with the exit code. */
export class ClusterPrimary {
  private readonly stableAfterMs: number;
  private readonly stopTimeoutMs: number;
  private readonly scrapeTimeoutMs: number;
  /** Workers serving (listening), by id. */
  private readonly up = new Set<number>();
  /** Workers being retired by a rolling restart or shutdown: their exit is expected. */
  private readonly retiring = new Set<number>();
  private readonly started = new Map<number, number>();
  /** Slots per IP held by each worker, and the total per IP. */
  private readonly slotsByWorker = new Map<number, Map<string, number>>();
  private readonly slots = new Map<string, number>();
  private readonly scrapes = new Map<number, Scrape>();
  private scrapeSeq = 1;
  /** The scrape collecting now, which every worker that asks meanwhile shares. */
  private gathering: number | undefined;
  private crashes = 0;
  private restarts = 0;
  private draining = false;
  private rolling = false;
  private readyUrl: string | undefined;
  private failedStart = false;
  private exitCode = 0;
  private finish: ((code: number) => void) | undefined;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PrimaryOptions) {
    this.stableAfterMs = opts.stableAfterMs ?? 30_000;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 60_000;
    this.scrapeTimeoutMs = opts.scrapeTimeoutMs ?? 3_000;
  }

  /** Forks the workers and installs the signal handlers; resolves with the process exit code. */
  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    cluster.on('message', (worker, msg) => {
      if (isOurs(msg)) this.onMessage(worker, msg as WorkerMessage);
    });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    process.on('SIGTERM', () => this.shutdown('SIGTERM'));
    process.on('SIGINT', () => this.shutdown('SIGINT'));
    process.on('SIGUSR2', () => void this.rollingRestart());
    process.on('SIGHUP', () => {
      for (const w of this.workers()) w.process.kill('SIGHUP');
    });
    for (let i = 0; i < this.opts.workers; i++) this.fork();
    return done;
  }

  private workers(): Worker[] {
    return Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
  }

  private fork(): Worker {
    const w = cluster.fork();
    this.started.set(w.id, Date.now());
    // A message to a worker that is exiting fails asynchronously (EPIPE on its channel): the
    // exit handler tidies up after it, so the error must not end the primary.
    w.on('error', (err: Error) => this.opts.logger.debug({ worker: w.id, err: err.message }, 'worker channel error'));
    return w;
  }

  // ------------------------------------------------------------ messages

  private onMessage(worker: Worker, msg: WorkerMessage): void {
    switch (msg.t) {
      case 'mcp-ws:ready':
        this.up.add(worker.id);
        this.opts.logger.info({ worker: worker.id, pid: worker.process.pid }, 'worker listening');
        if (this.readyUrl === undefined && this.up.size >= this.opts.workers) {
          this.readyUrl = msg.url;
          this.opts.onReady(msg.line, this.opts.workers);
        }
        this.broadcastState();
        return;
      case 'mcp-ws:scrape':
        return this.startScrape(worker, msg.n);
      case 'mcp-ws:collected':
        return this.collected(worker, msg.n, msg.text);
      case 'mcp-ws:slot': {
        const held = this.slots.get(msg.ip) ?? 0;
        const ok = msg.limit <= 0 || held < msg.limit;
        if (ok) this.changeSlot(worker.id, msg.ip, 1);
        this.send(worker, { t: 'mcp-ws:slotted', n: msg.n, ok });
        return;
      }
      case 'mcp-ws:unslot':
        this.changeSlot(worker.id, msg.ip, -1);
        return;
    }
  }

  private send(worker: Worker, msg: PrimaryMessage): void {
    if (!worker.isConnected()) return;
    try {
      worker.send(msg);
    } catch {
      // The worker is going away; its exit handler tidies up.
    }
  }

  private changeSlot(workerId: number, ip: string, delta: number): void {
    let mine = this.slotsByWorker.get(workerId);
    if (mine === undefined) this.slotsByWorker.set(workerId, (mine = new Map<string, number>()));
    const own = (mine.get(ip) ?? 0) + delta;
    if (own < 0) return; // a release without a take (after a restart of the primary's view): ignore
    if (own === 0) mine.delete(ip);
    else mine.set(ip, own);
    const total = (this.slots.get(ip) ?? 0) + delta;
    if (total <= 0) this.slots.delete(ip);
    else this.slots.set(ip, total);
  }

  private broadcastState(): void {
    const msg: PrimaryMessage = { t: 'mcp-ws:state', up: this.up.size, total: this.opts.workers, draining: this.draining };
    for (const w of this.workers()) this.send(w, msg);
  }

  // ------------------------------------------------------------- metrics

  /**
   * A worker's /metrics request. While a scrape collects, a request joins it
   * (every worker flooding /metrics costs one collection from each worker at
   * a time, not one per request); it is answered with that scrape's text.
   */
  private startScrape(from: Worker, n: number): void {
    const joined = this.gathering === undefined ? undefined : this.scrapes.get(this.gathering);
    if (joined !== undefined) {
      // Bounded: a worker shares its own /metrics requests, so this holds about one per worker.
      if (joined.waiting.length < MAX_SCRAPE_WAITING) joined.waiting.push({ from, n });
      return;
    }
    const id = this.scrapeSeq++;
    const targets = this.workers().filter((w) => w.isConnected() && this.up.has(w.id));
    const scrape: Scrape = {
      waiting: [{ from, n }],
      texts: [],
      expected: new Set(targets.map((w) => w.id)),
      timer: setTimeout(() => this.endScrape(id), this.scrapeTimeoutMs),
    };
    // The primary's own id keys the collection; the requester's nonce travels back in the reply.
    this.scrapes.set(id, scrape);
    this.gathering = id;
    for (const w of targets) this.send(w, { t: 'mcp-ws:collect', n: id });
    if (targets.length === 0) this.endScrape(id);
  }

  private collected(worker: Worker, id: number, text: string): void {
    const s = this.scrapes.get(id);
    if (s === undefined || !s.expected.delete(worker.id)) return;
    s.texts.push({ worker: worker.id, text });
    if (s.expected.size === 0) this.endScrape(id);
  }

  private endScrape(id: number): void {
    const s = this.scrapes.get(id);
    if (s === undefined) return;
    this.scrapes.delete(id);
    if (this.gathering === id) this.gathering = undefined;
    clearTimeout(s.timer);
    s.texts.sort((a, b) => Number(a.worker) - Number(b.worker));
    const text = mergeExpositions(s.texts) + this.ownMetrics(s.expected.size);
    for (const w of s.waiting) this.send(w.from, { t: 'mcp-ws:scraped', n: w.n, text });
  }

  private ownMetrics(missing: number): string {
    return (
      '# HELP mcp_ws_cluster_workers Workers serving (listening) now\n# TYPE mcp_ws_cluster_workers gauge\n' +
      `mcp_ws_cluster_workers ${this.up.size}\n\n` +
      '# HELP mcp_ws_cluster_workers_desired Workers the primary keeps\n# TYPE mcp_ws_cluster_workers_desired gauge\n' +
      `mcp_ws_cluster_workers_desired ${this.opts.workers}\n\n` +
      '# HELP mcp_ws_cluster_worker_restarts_total Workers replaced after an unexpected exit\n# TYPE mcp_ws_cluster_worker_restarts_total counter\n' +
      `mcp_ws_cluster_worker_restarts_total ${this.restarts}\n\n` +
      '# HELP mcp_ws_cluster_scrape_missing Workers whose metrics did not arrive in time for this scrape\n# TYPE mcp_ws_cluster_scrape_missing gauge\n' +
      `mcp_ws_cluster_scrape_missing ${missing}\n`
    );
  }

  // ------------------------------------------------------------ lifecycle

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const id = worker.id;
    const wasUp = this.up.delete(id);
    const expected = this.retiring.delete(id);
    const mine = this.slotsByWorker.get(id);
    if (mine !== undefined) {
      for (const [ip, n] of mine) this.changeSlot(id, ip, -n);
      this.slotsByWorker.delete(id);
    }
    for (const [sid, s] of this.scrapes) if (s.expected.delete(id) && s.expected.size === 0) this.endScrape(sid);
    const lived = Date.now() - (this.started.get(id) ?? Date.now());
    this.started.delete(id);
    if (this.draining) {
      // A worker stopped while still starting dies of the SIGTERM itself: not a failure.
      if (code !== 0 && !(signal === 'SIGTERM' && !wasUp)) this.exitCode = 1;
      this.opts.logger.info({ worker: id, code, signal }, 'worker stopped');
      if (this.workers().length === 0) this.end();
      else this.broadcastState();
      return;
    }
    if (expected) {
      this.broadcastState();
      return;
    }
    if (this.readyUrl === undefined && !wasUp) {
      // A worker that cannot even start (port taken, bad module): the cluster cannot either.
      this.opts.logger.error({ worker: id, code, signal }, 'worker exited before listening; stopping');
      this.failedStart = true;
      this.exitCode = 1;
      this.shutdown('start-up failure');
      return;
    }
    if (lived >= this.stableAfterMs) this.crashes = 0;
    const delay = Math.round(fullJitterDelay(this.crashes, BACKOFF)) + BACKOFF.initialDelayMs;
    this.crashes++;
    this.restarts++;
    this.opts.logger.error({ worker: id, code, signal, livedMs: lived, restartInMs: delay }, 'worker exited unexpectedly; replacing it');
    this.broadcastState();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.draining) this.fork();
    }, delay);
  }

  private shutdown(reason: string): void {
    if (this.draining) {
      if (reason === 'SIGTERM' || reason === 'SIGINT') {
        this.opts.logger.warn({ signal: reason }, 'second signal: killing workers');
        for (const w of this.workers()) w.process.kill('SIGKILL');
        process.exit(1);
      }
      return;
    }
    this.draining = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.opts.logger.info({ reason, workers: this.workers().length }, 'shutting down the cluster');
    this.broadcastState();
    const workers = this.workers();
    if (workers.length === 0) return this.end();
    for (const w of workers) {
      this.retiring.add(w.id);
      w.process.kill('SIGTERM');
    }
    const killer = setTimeout(() => {
      for (const w of this.workers()) {
        this.opts.logger.error({ worker: w.id }, 'worker did not stop in time; killing it');
        this.exitCode = 1;
        w.process.kill('SIGKILL');
      }
    }, this.stopTimeoutMs);
    killer.unref();
  }

  private end(): void {
    const finish = this.finish;
    this.finish = undefined;
    finish?.(this.failedStart ? 1 : this.exitCode);
  }

  /** SIGUSR2: replaces each worker in turn, never closing the listener. */
  private async rollingRestart(): Promise<void> {
    if (this.rolling || this.draining || this.readyUrl === undefined) return;
    this.rolling = true;
    this.opts.logger.info({ workers: this.up.size }, 'rolling restart');
    try {
      for (const old of this.workers()) {
        if (this.draining) return;
        const fresh = this.fork();
        const listening = await this.waitReady(fresh);
        if (!listening) {
          this.opts.logger.error({ worker: fresh.id }, 'replacement did not start; rolling restart stopped');
          return;
        }
        if (this.draining) return;
        this.retiring.add(old.id);
        const exited = new Promise<void>((resolve) => old.once('exit', () => resolve()));
        old.process.kill('SIGTERM');
        await exited;
      }
      this.opts.logger.info({ workers: this.up.size }, 'rolling restart done');
    } finally {
      this.rolling = false;
    }
  }

  private waitReady(w: Worker): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (msg: unknown): void => {
        if (isOurs(msg) && (msg as WorkerMessage).t === 'mcp-ws:ready') {
          w.off('message', check);
          w.off('exit', gone);
          resolve(true);
        }
      };
      const gone = (): void => {
        w.off('message', check);
        resolve(false);
      };
      w.on('message', check);
      w.once('exit', gone);
    });
  }
}

/** `--workers auto` → one per core (availableParallelism), else the number. */
export function resolveWorkerCount(value: number | 'auto' | undefined, cores: number): number {
  if (value === undefined) return 1;
  if (value === 'auto') return Math.max(1, cores);
  return value;
}
