/**
 * A local stand-in for the LLM APIs we cannot reach in tests: one HTTP
 * server on 127.0.0.1:0 answering POST /v1/chat/completions,
 * /v1/responses (OpenAI) and /v1/messages (Anthropic) with each API's
 * streaming wire format, byte for byte (server-sent events; `data: [DONE]`
 * for Chat Completions; Anthropic's message_start … message_stop with ping).
 * The real `openai` and `@anthropic-ai/sdk` clients talk to it through
 * their baseURL.
 *
 * Each request takes the next {@link Script} queued with `enqueue` (else
 * `fallback`): the deltas to send, line endings, how the bytes are cut into
 * writes, a drip delay, an error event or a cut connection after some
 * deltas, an HTTP error status, or an endless flood that waits for 'drain'
 * (to see backpressure reach the provider). It records what it saw: the
 * requests (headers and body), when each request's socket closed, and the
 * bytes written.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Script {
  /** Text deltas to stream. Default ['Hello', ', ', 'world', '!']. */
  deltas?: string[];
  /** Line ending of the event stream. Default '\n'. */
  eol?: '\n' | '\r\n';
  /** 'whole': the stream in one write; 'events': one write per event; 'bytes': writes of 1–7 bytes (events split across reads). Default 'events'. */
  writes?: 'whole' | 'events' | 'bytes';
  /** Wait before each event (ms). */
  dripMs?: number;
  /** Wait before the first event (ms) after the headers. */
  firstDelayMs?: number;
  /** After this many deltas, send the API's error event and end. */
  errorAfter?: number;
  /** After this many deltas, destroy the connection. */
  cutAfter?: number;
  /** Answer with this HTTP status and JSON error body instead of a stream. */
  status?: number;
  /** Headers of that answer (e.g. retry-after). */
  headers?: Record<string, string>;
  /** Message in that answer's error body. */
  message?: string;
  /** Send headers, then nothing (until the client goes away). */
  silent?: boolean;
  /** Stream deltas of this many characters without end, waiting for 'drain' whenever write() says so. */
  flood?: number;
  /** Send exactly these bytes as the 200 event-stream body, then end (hostile bodies). */
  raw?: string;
}

export interface SeenRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: any;
  /** When the request's socket closed (performance.now()), 0 while open. */
  closedAt: number;
  /** When the client went away (abort), observed: set by 'close' on the socket. */
  readonly socket: Socket;
}

export class FakeProvider {
  readonly server: Server;
  readonly seen: SeenRequest[] = [];
  private readonly queue: Script[] = [];
  fallback: Script = {};
  /** Bytes written to streams, all requests. */
  bytesWritten = 0;
  /** A flood is waiting for 'drain' (its writes stall). */
  stalled = false;
  /** Times a flood's write() returned false. */
  stalls = 0;
  port = 0;

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** http://127.0.0.1:port/v1 (OpenAI's baseURL form). */
  get openaiBase(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** http://127.0.0.1:port (Anthropic's baseURL form). */
  get anthropicBase(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  enqueue(...scripts: Script[]): void {
    this.queue.push(...scripts);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: any;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        body = undefined;
      }
      const seen: SeenRequest = { path: req.url ?? '', headers: req.headers, body, closedAt: 0, socket: req.socket };
      this.seen.push(seen);
      req.socket.once('close', () => (seen.closedAt = performance.now()));
      const script = this.queue.shift() ?? this.fallback;
      void this.respond(req.url ?? '', script, res).catch(() => res.destroy());
    });
  }

  private async respond(path: string, s: Script, res: ServerResponse): Promise<void> {
    const api = path.endsWith('/messages') ? 'anthropic' : path.endsWith('/responses') ? 'responses' : 'chat';
    if (s.status !== undefined) {
      const message = s.message ?? 'error';
      const body =
        api === 'anthropic'
          ? { type: 'error', error: { type: s.status === 429 ? 'rate_limit_error' : s.status === 401 ? 'authentication_error' : 'api_error', message } }
          : { error: { message, type: s.status === 401 ? 'invalid_request_error' : 'server_error', code: null, param: null } };
      res.writeHead(s.status, { 'content-type': 'application/json', ...s.headers });
      res.end(JSON.stringify(body));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    if (s.silent) return;
    if (s.raw !== undefined) {
      this.bytesWritten += Buffer.byteLength(s.raw);
      res.end(s.raw);
      return;
    }
    const eol = s.eol ?? '\n';
    const fmt = formats[api];
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    if (s.firstDelayMs) await sleep(s.firstDelayMs);
    if (s.flood !== undefined) {
      const delta = 'x'.repeat(s.flood);
      for (const e of fmt.start()) res.write(event(e, eol));
      while (!res.destroyed) {
        const bytes = event(fmt.delta(delta), eol);
        this.bytesWritten += Buffer.byteLength(bytes);
        if (!res.write(bytes)) {
          this.stalls++;
          this.stalled = true;
          await new Promise<void>((resolve) => {
            const go = (): void => {
              res.off('drain', go);
              res.off('close', go);
              resolve();
            };
            res.on('drain', go);
            res.on('close', go);
          });
          this.stalled = false;
        }
      }
      return;
    }
    const deltas = s.deltas ?? ['Hello', ', ', 'world', '!'];
    const events: string[] = [...fmt.start()];
    deltas.forEach((d, i) => {
      if (s.errorAfter === i) events.push(fmt.error('upstream failure mid-stream'));
      if (s.cutAfter === i) events.push('CUT');
      events.push(fmt.delta(d));
    });
    if (s.errorAfter === undefined && s.cutAfter === undefined) events.push(...fmt.end());
    else if (s.errorAfter !== undefined && s.errorAfter >= deltas.length) events.push(fmt.error('upstream failure mid-stream'));
    const stop = events.indexOf('CUT');
    const errorAt = events.findIndex((e) => e !== 'CUT' && e.includes('upstream failure'));
    const out = events.slice(0, stop === -1 ? (errorAt === -1 ? events.length : errorAt + 1) : stop) as string[];
    const write = (text: string | Buffer): void => {
      this.bytesWritten += Buffer.byteLength(text);
      res.write(text);
    };
    if ((s.writes ?? 'events') === 'whole') write(out.map((e) => event(e, eol)).join(''));
    else if (s.writes === 'bytes') {
      const all = Buffer.from(out.map((e) => event(e, eol)).join(''));
      for (let i = 0; i < all.length && !res.destroyed; ) {
        const n = 1 + (i % 7);
        write(all.subarray(i, i + n));
        i += n;
        await sleep(1);
      }
    } else {
      for (const e of out) {
        if (res.destroyed) return;
        if (s.dripMs) await sleep(s.dripMs);
        write(event(e, eol));
      }
    }
    if (stop !== -1) {
      await sleep(20);
      res.socket?.destroy();
      return;
    }
    res.end();
  }
}

/** One event, given as its lines ("event: x\ndata: {...}"), with `eol` line endings and a blank line after. */
function event(e: string, eol: string): string {
  return e.split('\n').join(eol) + eol + eol;
}

interface Format {
  start(): string[];
  delta(text: string): string;
  end(): string[];
  error(message: string): string;
}

const MODEL = 'fake-model-1';
const chunk = (delta: object, finish: string | null = null): string =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: MODEL, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}`;

const formats: Record<'chat' | 'responses' | 'anthropic', Format> = {
  chat: {
    start: () => [chunk({ role: 'assistant', content: '' })],
    delta: (text) => chunk({ content: text }),
    end: () => [
      chunk({}, 'stop'),
      `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: MODEL, choices: [], usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 } })}`,
      'data: [DONE]',
    ],
    error: (message) => `data: ${JSON.stringify({ error: { message, type: 'server_error', code: null, param: null } })}`,
  },
  responses: {
    start: () => [
      `event: response.created\ndata: ${JSON.stringify({ type: 'response.created', sequence_number: 0, response: { id: 'resp_1', object: 'response', model: MODEL, status: 'in_progress', output: [] } })}`,
    ],
    delta: (text) =>
      `event: response.output_text.delta\ndata: ${JSON.stringify({ type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: text })}`,
    end: () => [
      `event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', sequence_number: 9, response: { id: 'resp_1', object: 'response', model: MODEL, status: 'completed', output: [], usage: { input_tokens: 7, output_tokens: 4, total_tokens: 11 } } })}`,
    ],
    error: (message) => `event: error\ndata: ${JSON.stringify({ type: 'error', sequence_number: 5, code: 'server_error', message, param: null })}`,
  },
  anthropic: {
    start: () => [
      `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: MODEL, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 7, output_tokens: 1 } } })}`,
      `event: content_block_start\ndata: ${JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })}`,
      'event: ping\ndata: {"type": "ping"}',
    ],
    delta: (text) => `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })}`,
    end: () => [
      `event: content_block_stop\ndata: ${JSON.stringify({ type: 'content_block_stop', index: 0 })}`,
      `event: message_delta\ndata: ${JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 4 } })}`,
      `event: message_stop\ndata: ${JSON.stringify({ type: 'message_stop' })}`,
    ],
    error: (message) => `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message } })}`,
  },
};
