/**
 * One shared snapshot stream for every dashboard viewer.
 *
 * A timer takes one snapshot a second while at least one viewer is
 * connected, serialises it once, and writes the same bytes to every viewer
 * as a Server-Sent Event; with no viewer, no timer runs. Viewers are capped
 * (over the cap: 503). A viewer that stops reading is cut off once its
 * unsent backlog passes a few snapshots' worth, so a stalled or malicious
 * viewer costs a bounded amount of memory, never a growing queue.
 */
import type { ServerResponse } from 'node:http';

/** Options of {@link SnapshotHub}. */
export interface SnapshotHubOptions {
  /** Viewers at once; more get 503. */
  maxViewers: number;
  /** Milliseconds between snapshots. Default 1000. */
  intervalMs?: number;
  /** Unsent bytes a viewer may hold before it is disconnected. Default 256 KiB. */
  maxBacklogBytes?: number;
  /** SSE comment sent when there is nothing new, so proxies keep the stream. Every 15 s. */
  keepAliveMs?: number;
}

/** Takes snapshots: `take()` is called at most once per interval, whatever the number of viewers. */
export type SnapshotSource = () => object;

export class SnapshotHub {
  private readonly viewers = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private last: string | undefined;
  private lastAt = 0;
  /** Snapshots computed since start (a test reads it: one per tick, not one per viewer). */
  ticks = 0;
  /** Viewers cut off for not reading. */
  dropped = 0;
  private readonly intervalMs: number;
  private readonly maxBacklogBytes: number;

  constructor(
    private readonly take: SnapshotSource,
    private readonly options: SnapshotHubOptions,
  ) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.maxBacklogBytes = options.maxBacklogBytes ?? 256 * 1024;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /**
   * The latest snapshot as JSON text: the shared one when it is fresher than
   * the interval, else a new one (which viewers then share). A flood of
   * /debug/snapshot requests therefore costs one snapshot per interval.
   */
  latest(): string {
    if (this.last === undefined || Date.now() - this.lastAt >= this.intervalMs) this.refresh();
    return this.last!;
  }

  /** Adds a viewer (headers written here); false when the cap is reached and nothing was written. */
  add(res: ServerResponse): boolean {
    if (this.viewers.size >= this.options.maxViewers) return false;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    res.socket?.setNoDelay(true);
    this.viewers.add(res);
    const remove = (): void => {
      this.viewers.delete(res);
      if (this.viewers.size === 0) this.stop();
    };
    res.once('close', remove);
    res.write(`retry: 2000\ndata: ${this.latest()}\n\n`);
    this.start();
    return true;
  }

  /** Ends every viewer's stream and stops the timer (server shutdown). */
  close(): void {
    this.stop();
    for (const res of this.viewers) res.end();
    this.viewers.clear();
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private refresh(): void {
    this.last = JSON.stringify(this.take());
    this.lastAt = Date.now();
    this.ticks++;
  }

  private tick(): void {
    this.refresh();
    const frame = `data: ${this.last!}\n\n`;
    for (const res of this.viewers) {
      // A viewer that does not read keeps its backlog in its socket: past the bound it goes.
      if (res.writableLength > this.maxBacklogBytes || res.socket?.destroyed) {
        this.dropped++;
        this.viewers.delete(res);
        res.destroy();
        continue;
      }
      res.write(frame);
    }
    if (this.viewers.size === 0) this.stop();
  }
}
