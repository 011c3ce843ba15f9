/**
 * The Streamable HTTP driver: the same sessions and load over MCP's HTTP
 * transport, so `mcp-ws bench` can put an HTTP server beside a WebSocket one.
 *
 * Each session POSTs initialize (keeping the Mcp-Session-Id the server
 * returns, if any: stateless servers return none), then
 * notifications/initialized, then its requests with the session and
 * protocol-version headers. All sessions of a worker share one undici Pool of
 * keep-alive sockets. HTTP/1.1 carries one request per socket at a time, so
 * the pool has connections × concurrency sockets: the same number of
 * requests in flight as the WebSocket driver.
 *
 * Answers may be JSON (enableJsonResponse) or a short SSE stream; both are
 * read. A non-2xx status counts as an error.
 */
import type { Pool } from 'undici';
import { classifyParsed, INITIALIZED_NOTIFICATION, initializeRequest, lastId, readResponse, Reading } from './request-template.js';
import type { LoadEngine, LoadSession } from './load-engine.js';

/** How to reach the server. */
export interface HttpDriverOptions {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly protocolVersion: string;
  /** Keep-alive sockets of this worker's pool. */
  readonly sockets: number;
}

/** One worker's HTTP connection pool. */
export class HttpDriver {
  private constructor(
    readonly pool: Pool,
    readonly path: string,
    readonly options: HttpDriverOptions,
  ) {}

  static async create(options: HttpDriverOptions): Promise<HttpDriver> {
    const { Pool } = await import('undici');
    const u = new URL(options.url);
    const pool = new Pool(u.origin, {
      connections: options.sockets,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connectTimeout: options.timeoutMs,
    });
    return new HttpDriver(pool, u.pathname + u.search, options);
  }

  /** Opens one session: initialize, then notifications/initialized. Rejects with a one-line reason. */
  async openSession(engine: LoadEngine): Promise<HttpLoadSession> {
    const base = ['content-type', 'application/json', 'accept', 'application/json, text/event-stream'];
    for (const [k, v] of Object.entries(this.options.headers)) base.push(k, v);
    const res = await this.post(base, initializeRequest(this.options.protocolVersion));
    if (res.statusCode < 200 || res.statusCode > 299) {
      throw new Error(`initialize was answered with HTTP ${res.statusCode}`);
    }
    if (readBody(res.contentType, res.body) !== Reading.Ok || lastId !== 0) throw new Error('initialize was answered with an error');
    const headers = [...base, 'mcp-protocol-version', this.options.protocolVersion];
    if (res.sessionId !== undefined) headers.push('mcp-session-id', res.sessionId);
    const ack = await this.post(headers, INITIALIZED_NOTIFICATION);
    if (ack.statusCode < 200 || ack.statusCode > 299) {
      throw new Error(`notifications/initialized was answered with HTTP ${ack.statusCode}`);
    }
    return new HttpLoadSession(this, headers, engine);
  }

  /** @internal One POST, body read whole. */
  async post(headers: string[], body: string): Promise<{ statusCode: number; contentType: string; sessionId: string | undefined; body: Buffer }> {
    const res = await this.pool.request({ path: this.path, method: 'POST', headers, body });
    const buf = Buffer.from(await res.body.arrayBuffer());
    const sid = res.headers['mcp-session-id'];
    const ct = res.headers['content-type'];
    return {
      statusCode: res.statusCode,
      contentType: typeof ct === 'string' ? ct : '',
      sessionId: typeof sid === 'string' ? sid : undefined,
      body: buf,
    };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/** Reads a JSON or SSE body; the id is left in lastId. */
function readBody(contentType: string, body: Buffer): Reading {
  if (!contentType.includes('text/event-stream')) return readResponse(body);
  for (const line of body.toString().split('\n')) {
    if (!line.startsWith('data:')) continue;
    let msg: unknown;
    try {
      msg = JSON.parse(line.slice(5));
    } catch {
      continue;
    }
    const r = classifyParsed(msg);
    if (r !== Reading.Other) return r;
  }
  return Reading.Other;
}

/** One Streamable HTTP session of a load run. */
export class HttpLoadSession implements LoadSession {
  readonly pending = new Map<number, number>();
  isOpen = true;

  constructor(
    private readonly driver: HttpDriver,
    private readonly headers: string[],
    private readonly engine: LoadEngine,
  ) {}

  send(id: number, text: string): void {
    this.driver.post(this.headers, text).then(
      (res) => {
        if (res.statusCode < 200 || res.statusCode > 299) {
          this.engine.noteError(`HTTP ${res.statusCode}`);
          this.engine.reply(this, Reading.Error, id);
          return;
        }
        const r = readBody(res.contentType, res.body);
        if (r === Reading.Other || lastId !== id) {
          this.engine.noteError('an HTTP answer carried no response to its request');
          this.engine.reply(this, Reading.Error, id);
        } else this.engine.reply(this, r, id);
      },
      (err: Error) => {
        this.engine.noteError(err.message);
        this.engine.reply(this, Reading.Error, id);
      },
    );
  }

  close(): void {
    this.isOpen = false;
  }
}
