/**
 * LoadEngine: the part of a generator worker that decides when each request
 * goes out and what its answer counts as. Drivers (WebSocket, Streamable
 * HTTP) only move text; they call {@link LoadEngine.reply} once per response.
 *
 * Closed loop: every session keeps `concurrency` requests in flight; an
 * answer (or a timeout) sends the next one on the same session. Latency is
 * measured from the actual send.
 *
 * Open loop (`rate`): request k is due at t0 + k/rate whatever is in flight,
 * sessions take turns, and latency is measured from that intended time, so a
 * stalled server is charged for the requests it kept the generator from
 * sending (coordinated-omission correction).
 *
 * Timeline, in this thread's performance.now() milliseconds:
 *
 *   startAt ── warm-up ──► recordFrom ── measured ──► windowEnd ── drain (≤ timeout) ──► done
 *
 * Requests sent before recordFrom are not counted; answers are counted for
 * throughput by the time they arrive, and for latency by the time their
 * request was sent (or due).
 */
import { performance } from 'node:perf_hooks';
import hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { lastErrorMessage, lastId, Reading, type RequestTemplate } from './request-template.js';

/** A session as the engine sees it: a driver's connection to the server. */
export interface LoadSession {
  /** Requests in flight on this session: id → start (or intended) time in ms. */
  readonly pending: Map<number, number>;
  /** Whether requests can still be sent. */
  readonly isOpen: boolean;
  /** Sends one serialised request whose JSON-RPC id is `id`. */
  send(id: number, text: string): void;
  /** Closes the session. */
  close(): void;
}

/** What one engine is asked to do: its share of the run. */
export interface EngineConfig {
  readonly concurrency: number;
  /** Requests this engine sends after warm-up; undefined when time bounds the run. */
  readonly messages: number | undefined;
  readonly durationMs: number | undefined;
  readonly warmupMs: number;
  /** Open-loop requests per second for this engine; undefined for a closed loop. */
  readonly rate: number | undefined;
  readonly timeoutMs: number;
}

/** What one engine measured. Times are absolute (performance.timeOrigin-based) ms. */
export interface EngineResult {
  sent: number;
  ok: number;
  errors: number;
  timeouts: number;
  lostSessions: number;
  /** Successful answers received inside the measured window, by arrival time. */
  okInWindow: number;
  windowStart: number;
  windowEnd: number;
  /** Successful answers per whole second of the window, by arrival time. */
  perSecond: number[];
  /** HdrHistogram of latencies in microseconds, compressed base64. */
  histogram: string;
  /** Open loop: HdrHistogram of how late each request left after its intended time (µs), compressed base64. */
  sendLag: string | undefined;
  firstError: string | undefined;
}

/** Latency histogram: 1 µs to 1 h, three significant digits. */
export function newLatencyHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

/** Drives one worker's sessions and counts what comes back. */
export class LoadEngine {
  readonly sessions: LoadSession[] = [];
  /** Counts since the run started, for progress reports. */
  answered = 0;
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly hist = newLatencyHistogram();
  private readonly lagHist: Histogram | undefined;
  private readonly perSecond: number[] = [];
  private nextId = 1;
  private inFlight = 0;
  private remaining: number;
  private recordFrom = Infinity;
  private windowEnd = Infinity;
  private stopAt = Infinity;
  private stopped = false;
  private sent = 0;
  private ok = 0;
  private errors = 0;
  private timeouts = 0;
  private lost = 0;
  private okInWindow = 0;
  private lastAnswerAt = 0;
  private firstError: string | undefined;
  private scheduled = 0;
  private t0 = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private stopTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private finish: (() => void) | undefined;

  constructor(
    readonly config: EngineConfig,
    template: RequestTemplate,
  ) {
    this.prefix = template.prefix;
    this.suffix = template.suffix;
    this.remaining = config.messages ?? Infinity;
    if (config.rate !== undefined) this.lagHist = newLatencyHistogram();
  }

  /** Remembers the first error seen, for the report. */
  noteError(message: string): void {
    this.firstError ??= message;
  }

  /**
   * Runs the load from `startAt` (this thread's performance.now() ms) until
   * the duration passed or the messages were sent, then waits for answers
   * (each at most timeoutMs). Resolves with what was measured.
   */
  run(startAt: number): Promise<EngineResult> {
    const { warmupMs, durationMs, timeoutMs, rate } = this.config;
    return new Promise<EngineResult>((resolve) => {
      this.finish = () => resolve(this.result());
      const begin = (): void => {
        const now = performance.now();
        this.t0 = now;
        this.recordFrom = now + warmupMs;
        if (durationMs !== undefined) {
          this.windowEnd = this.recordFrom + durationMs;
          this.stopAt = this.windowEnd;
          this.stopTimer = setTimeout(() => this.stop(), this.stopAt - now + 1);
        }
        this.sweepTimer = setInterval(() => this.sweep(), Math.max(5, Math.min(250, timeoutMs / 4)));
        if (rate === undefined) {
          for (const s of this.sessions) for (let i = 0; i < this.config.concurrency; i++) this.sendNext(s);
        } else {
          this.tick();
          this.tickTimer = setInterval(() => this.tick(), 1);
        }
        this.maybeDone();
      };
      const wait = startAt - performance.now();
      if (wait > 0) setTimeout(begin, wait);
      else begin();
    });
  }

  /** Stops sending now; answers still in flight are awaited (at most timeoutMs). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const now = performance.now();
    // A time-bounded run stopped early measures up to now; a count-bounded one counts its drain too.
    if (this.config.durationMs !== undefined && this.windowEnd > now) this.windowEnd = now;
    if (this.tickTimer) clearInterval(this.tickTimer);
    // Bound the drain even if a driver never reports a socket's end.
    this.deadlineTimer = setTimeout(() => this.done(), this.config.timeoutMs + 2000);
    this.maybeDone();
  }

  // -------------------------------------------------------------- hot path

  private sendNext(s: LoadSession, now = performance.now()): void {
    if (this.stopped || !s.isOpen) return;
    if (now >= this.stopAt) {
      this.stop();
      return;
    }
    const counted = now >= this.recordFrom;
    if (counted) {
      if (this.remaining <= 0) {
        this.stop();
        return;
      }
      this.remaining--;
      this.sent++;
    }
    const id = this.nextId++;
    s.pending.set(id, now);
    this.inFlight++;
    s.send(id, this.prefix + id + this.suffix);
  }

  /** Open loop: sends every request that is due by now, each stamped with its intended time. */
  private tick(): void {
    if (this.stopped) return;
    const rate = this.config.rate!;
    const now = performance.now();
    const due = Math.floor(((now - this.t0) * rate) / 1000) + 1;
    const sessions = this.sessions;
    const n = sessions.length;
    while (this.scheduled < due) {
      const k = this.scheduled++;
      const intended = this.t0 + (k * 1000) / rate;
      if (intended >= this.stopAt) {
        this.stop();
        return;
      }
      if (intended >= this.recordFrom) {
        if (this.remaining <= 0) {
          this.stop();
          return;
        }
        this.remaining--;
        this.sent++;
      }
      const s = sessions[k % n]!;
      if (!s.isOpen) {
        if (intended >= this.recordFrom) this.errors++;
        continue;
      }
      const id = this.nextId++;
      s.pending.set(id, intended);
      this.inFlight++;
      s.send(id, this.prefix + id + this.suffix);
      // How far behind its own schedule the generator is: latency it charges the server for.
      if (intended >= this.recordFrom) this.lagHist!.recordValue(Math.max(1, Math.round((now - intended) * 1000)));
    }
  }

  /**
   * One inbound message on `s`, read by the driver: a success or error with
   * `id` (for WebSocket drivers, {@link lastId} after readResponse), or Other.
   */
  reply(s: LoadSession, reading: Reading, id: number = lastId): void {
    if (reading === Reading.Other) return;
    const start = s.pending.get(id);
    if (start === undefined) return; // answered after its timeout, or not ours
    s.pending.delete(id);
    this.inFlight--;
    this.answered++;
    const now = performance.now();
    this.lastAnswerAt = now;
    if (reading === Reading.Ok) {
      if (now >= this.recordFrom && now < this.windowEnd) {
        this.okInWindow++;
        const sec = ((now - this.recordFrom) / 1000) | 0;
        const ps = this.perSecond;
        while (ps.length <= sec) ps.push(0);
        ps[sec]!++;
      }
      if (start >= this.recordFrom) {
        this.ok++;
        this.hist.recordValue(Math.max(1, Math.round((now - start) * 1000)));
      }
    } else {
      this.firstError ??= `error response: ${lastErrorMessage || 'no message'}`;
      if (start >= this.recordFrom) this.errors++;
    }
    if (this.config.rate === undefined) this.sendNext(s, now);
    if (this.stopped && this.inFlight === 0) this.done();
  }

  // ------------------------------------------------------------ slow path

  /** A session ended: what it had in flight is lost (counted as errors). */
  sessionLost(s: LoadSession, why: string): void {
    this.lost++;
    this.noteError(why);
    const now = performance.now();
    for (const start of s.pending.values()) {
      this.inFlight--;
      this.answered++;
      if (start >= this.recordFrom) this.errors++;
    }
    s.pending.clear();
    this.lastAnswerAt = now;
    this.maybeDone();
  }

  /** Times out requests older than timeoutMs; in a closed loop each is replaced. */
  private sweep(): void {
    const now = performance.now();
    const limit = this.config.timeoutMs;
    const closed = this.config.rate === undefined;
    for (const s of this.sessions) {
      let expired = 0;
      // Insertion order is send order, so the oldest come first.
      for (const [id, start] of s.pending) {
        if (now - start < limit) break;
        s.pending.delete(id);
        this.inFlight--;
        this.answered++;
        expired++;
        if (start >= this.recordFrom) this.timeouts++;
      }
      if (expired > 0) {
        this.lastAnswerAt = now;
        this.noteError(`no answer within ${limit} ms`);
        if (closed) for (let i = 0; i < expired; i++) this.sendNext(s);
      }
    }
    if (!this.stopped && this.remaining <= 0 && this.inFlight === 0) this.stop();
    this.maybeDone();
  }

  private maybeDone(): void {
    if (this.finish === undefined) return;
    if (!this.stopped) {
      const anyOpen = this.sessions.some((s) => s.isOpen);
      if (anyOpen && this.remaining > 0) return;
      this.stop();
      return;
    }
    if (this.inFlight <= 0) this.done();
  }

  private done(): void {
    const finish = this.finish;
    if (finish === undefined) return;
    this.finish = undefined;
    clearInterval(this.sweepTimer);
    clearInterval(this.tickTimer);
    clearTimeout(this.stopTimer);
    clearTimeout(this.deadlineTimer);
    finish();
  }

  private result(): EngineResult {
    const origin = performance.timeOrigin;
    const durationMode = this.config.durationMs !== undefined;
    const start = this.recordFrom === Infinity ? this.t0 : this.recordFrom;
    let end = durationMode ? this.windowEnd : Math.max(this.lastAnswerAt, start);
    if (!Number.isFinite(end)) end = performance.now();
    return {
      sent: this.sent,
      ok: this.ok,
      errors: this.errors,
      timeouts: this.timeouts,
      lostSessions: this.lost,
      okInWindow: this.okInWindow,
      windowStart: origin + start,
      windowEnd: origin + end,
      perSecond: this.perSecond,
      histogram: hdr.encodeIntoCompressedBase64(this.hist),
      sendLag: this.lagHist ? hdr.encodeIntoCompressedBase64(this.lagHist) : undefined,
      firstError: this.firstError,
    };
  }
}
