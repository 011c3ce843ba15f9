/**
 * A worker's side of the cluster: what McpWsServer asks the primary through
 * the `cluster` option.
 *
 * - scrape(): the merged /metrics text of every worker (the primary asks each
 *   worker for its text and merges, see merge-metrics.ts);
 * - state: workers up, total, draining — kept current by the primary's
 *   `state` messages, read synchronously by /readyz;
 * - acquireSlot()/releaseSlot(): maxConnectionsPerIp counted across workers
 *   by the primary (an IPC round trip per admitted connection, only when that
 *   limit is set). Each worker still applies every other limit itself
 *   (maxConnections is per worker; the handshake rate is per worker unless
 *   rate limiting uses its Redis store, which every worker shares).
 *
 * Requests to the primary time out after 5 s (the primary may be gone,
 * stopped or busy): a scrape falls back to this worker's own text, a slot
 * request admits the connection, each with a warning in the log once per
 * stall. An answer that arrives after its request timed out is not lost: a
 * late refusal of a slot the worker admitted anyway is turned into a take,
 * so the primary's count matches the connections this worker holds and the
 * release at close gives back a slot that was counted.
 */
import type { Logger } from 'pino';
import type { ClusterState, PrimaryMessage, WorkerMessage } from './messages.js';
import { isOurs } from './messages.js';

/** What a server needs from its cluster. */
export interface ClusterMember {
  /** This worker's id (node:cluster's). */
  readonly workerId: number;
  readonly state: ClusterState;
  /** Gives the member this worker's own metrics writer (the primary collects it for every scrape). */
  attach(collect: () => Promise<string>): void;
  /** Every worker's metrics merged; `local` is this worker's own text. */
  scrape(local: () => Promise<string>): Promise<string>;
  /** Takes a slot of `ip` against `limit` across workers: false when the cluster already holds `limit`. */
  acquireSlot(ip: string, limit: number): Promise<boolean>;
  releaseSlot(ip: string): void;
}

/** The process channel a worker talks on (process.send / process.on('message')). */
export interface Channel {
  send(msg: WorkerMessage): void;
  on(event: 'message', listener: (msg: unknown) => void): void;
}

/** Longest a worker waits for the primary's answer before it acts alone. */
export const REQUEST_TIMEOUT_MS = 5_000;
/** Slot requests whose answer is still owed after their timeout; the oldest are forgotten beyond this. */
const MAX_LATE = 10_000;

/** The worker side, on `channel` (process itself in a cluster worker). */
export class WorkerMember implements ClusterMember {
  state: ClusterState = { up: 1, total: 1, draining: false };
  private next = 1;
  private readonly waiting = new Map<number, (msg: PrimaryMessage | undefined) => void>();
  /** Slot requests that timed out (the connection was admitted), by nonce: their IP. */
  private readonly late = new Map<number, string>();
  /** The primary missed a deadline and has not answered since: warn once per stall. */
  private stalled = false;
  private collect: (() => Promise<string>) | undefined;
  /** This worker's own text being collected for the primary: shared by its collect requests. */
  private collecting: Promise<string> | undefined;

  constructor(
    readonly workerId: number,
    private readonly channel: Channel,
    private readonly logger?: Logger,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {
    channel.on('message', (msg) => {
      if (isOurs(msg)) this.onMessage(msg as PrimaryMessage);
    });
  }

  attach(collect: () => Promise<string>): void {
    this.collect = collect;
  }

  /** Tells the primary this worker listens at `url`; `line` is the ready line a single process would print. */
  ready(url: string, line: string): void {
    this.send({ t: 'mcp-ws:ready', url, line });
  }

  async scrape(local: () => Promise<string>): Promise<string> {
    const n = this.next++;
    const reply = await this.request(n, { t: 'mcp-ws:scrape', n });
    if (reply?.t === 'mcp-ws:scraped') return reply.text;
    this.fellBack('metrics scrape: this worker\'s own metrics only');
    return local();
  }

  async acquireSlot(ip: string, limit: number): Promise<boolean> {
    const n = this.next++;
    const reply = await this.request(n, { t: 'mcp-ws:slot', n, ip, limit });
    if (reply?.t === 'mcp-ws:slotted') return reply.ok;
    // Admitted without the primary: remember the request, so its late answer keeps the count true.
    this.late.set(n, ip);
    if (this.late.size > MAX_LATE) this.late.delete(this.late.keys().next().value as number);
    this.fellBack('connection slot: admitted on this worker\'s own count');
    return true;
  }

  private fellBack(what: string): void {
    if (this.stalled) return;
    this.stalled = true;
    this.logger?.warn({ worker: this.workerId, timeoutMs: this.timeoutMs, fallback: what }, 'the cluster primary did not answer in time');
  }

  releaseSlot(ip: string): void {
    this.send({ t: 'mcp-ws:unslot', ip });
  }

  private request(n: number, msg: WorkerMessage): Promise<PrimaryMessage | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(n);
        resolve(undefined);
      }, this.timeoutMs);
      timer.unref();
      this.waiting.set(n, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      if (!this.send(msg)) {
        clearTimeout(timer);
        this.waiting.delete(n);
        resolve(undefined);
      }
    });
  }

  private send(msg: WorkerMessage): boolean {
    try {
      this.channel.send(msg);
      return true;
    } catch {
      return false; // the channel closed: the primary is gone
    }
  }

  private onMessage(msg: PrimaryMessage): void {
    switch (msg.t) {
      case 'mcp-ws:state':
        this.state = { up: msg.up, total: msg.total, draining: msg.draining };
        return;
      case 'mcp-ws:collect': {
        const n = msg.n;
        const collect = this.collect;
        if (collect === undefined) {
          this.send({ t: 'mcp-ws:collected', n, text: '' });
          return;
        }
        // A collection still running (the primary gave up on it and asked again) answers both.
        if (this.collecting === undefined) {
          const p = collect().then(undefined, () => '');
          this.collecting = p;
          void p.then(() => {
            if (this.collecting === p) this.collecting = undefined;
          });
        }
        void this.collecting.then((text) => this.send({ t: 'mcp-ws:collected', n, text }));
        return;
      }
      case 'mcp-ws:scraped':
      case 'mcp-ws:slotted': {
        this.stalled = false;
        const waiter = this.waiting.get(msg.n);
        if (waiter !== undefined) {
          this.waiting.delete(msg.n);
          waiter(msg);
          return;
        }
        if (msg.t !== 'mcp-ws:slotted') return;
        const ip = this.late.get(msg.n);
        if (ip === undefined) return;
        this.late.delete(msg.n);
        // Refused late, yet admitted here: count it now (limit 0 always takes), so its release balances.
        if (!msg.ok) this.send({ t: 'mcp-ws:slot', n: 0, ip, limit: 0 });
        return;
      }
    }
  }
}
