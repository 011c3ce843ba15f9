/**
 * A small MCP-over-WebSocket client for the soak actors: open, initialize,
 * send requests with ids, match replies, and know, for every request, whether
 * it was answered, is still in flight when the socket closed, or is late.
 */
import { WebSocket } from 'ws';

/** A JSON-RPC reply as the soak looks at it. */
export interface Reply {
  id: number;
  result?: { isError?: boolean; content?: Array<{ text?: string }> } & Record<string, unknown>;
  error?: { code: number; message: string };
}

/** What `open` needs. */
export interface Endpoint {
  url: string;
  headers?: Record<string, string>;
}

interface Pending {
  sentAt: number;
  resolve: (r: Reply) => void;
}

/** Why opening failed: an HTTP status when the server answered one, else the error code. */
export class OpenError extends Error {
  constructor(readonly outcome: string) {
    super(`open failed: ${outcome}`);
  }
}

export class RpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Close code once closed (1006 when the TCP connection ended without one). */
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  /** Called with the requests still in flight when the socket closed. */
  onClose: ((code: number, inFlight: number) => void) | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      let msg: Reply;
      try {
        msg = JSON.parse((data as Buffer).toString()) as Reply;
      } catch {
        return;
      }
      if (typeof msg.id !== 'number') return; // notifications (progress, list changes)
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      p.resolve(msg);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        const n = this.pending.size;
        this.pending.clear();
        this.onClose?.(code, n);
        resolve(code);
      }),
    );
    ws.on('error', () => {
      /* the close event follows */
    });
  }

  /** Opens a session and initializes it. Rejects with OpenError. */
  static async open(endpoint: Endpoint, timeoutMs = 10_000): Promise<RpcClient> {
    const ws = new WebSocket(endpoint.url, ['mcp'], { headers: endpoint.headers, handshakeTimeout: timeoutMs });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        ws.terminate();
        reject(new OpenError(`http-${res.statusCode ?? 0}`));
      });
      ws.once('error', (err: NodeJS.ErrnoException) => reject(new OpenError(err.code ?? 'error')));
    });
    const c = new RpcClient(ws);
    const r = await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'soak', version: '1' } }, timeoutMs);
    if (r === undefined || !r.result) {
      c.ws.terminate();
      throw new OpenError(r === undefined ? 'initialize-unanswered' : `initialize-error-${r.error?.code ?? 0}`);
    }
    c.notify('notifications/initialized');
    return c;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  notify(method: string, params?: unknown): void {
    if (this.open) this.ws.send(JSON.stringify({ jsonrpc: '2.0', method, params }));
  }

  /**
   * Sends a request; resolves with its reply, or undefined when the socket
   * closed first or no reply came within `timeoutMs`.
   */
  request(method: string, params: unknown, timeoutMs: number): Promise<Reply | undefined> {
    if (!this.open) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(id, {
        sentAt: performance.now(),
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
      void this.closed.then(() => {
        clearTimeout(timer);
        resolve(undefined);
      });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  /** Sends without tracking a reply (for pipelining floods); returns the id. */
  fire(method: string, params: unknown): number {
    const id = this.nextId++;
    if (this.open) this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    return id;
  }

  /** Counts replies to untracked ids, by outcome, until closed or `until` returns true. */
  countReplies(into: (r: Reply) => void): void {
    this.ws.on('message', (data) => {
      let msg: Reply;
      try {
        msg = JSON.parse((data as Buffer).toString()) as Reply;
      } catch {
        return;
      }
      if (typeof msg.id === 'number' && !this.pending.has(msg.id)) into(msg);
    });
  }

  /** Closes normally and waits (bounded) for the close to finish. */
  async close(timeoutMs = 5_000): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000);
    const timer = setTimeout(() => this.ws.terminate(), timeoutMs);
    await this.closed;
    clearTimeout(timer);
  }
}
