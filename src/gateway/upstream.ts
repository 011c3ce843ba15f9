/**
 * Upstreams: the MCP servers the gateway forwards to, behind one interface.
 *
 *   UpstreamSpec        what the config says about one member (kind, address, credentials, weight)
 *   UpstreamConnection  one MCP session with it; for stdio, one child process
 *
 * Implementations, one file each:
 *   upstream-ws.ts     another MCP WebSocket server (our WebSocketClientTransport)
 *   upstream-http.ts   a Streamable HTTP MCP server (the SDK's StreamableHTTPClientTransport)
 *   upstream-stdio.ts  a command run as a child process, line-delimited JSON on its stdio
 *
 * A connection is a message pipe, like the SDK's Transport: it knows nothing
 * of ids, pools or clients. It delivers each inbound message parsed once, and
 * reports its end once through `onclose`.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';

/** The three kinds of upstream. */
export type UpstreamKind = 'ws' | 'http' | 'stdio';

/** Fields every upstream spec has. */
interface SpecBase {
  /** Label in metrics and logs; unique within a gateway. */
  readonly name: string;
  /** Relative weight for WeightedRoundRobin (positive integer). Default 1. */
  readonly weight: number;
}

/** Another MCP WebSocket server. */
export interface WsUpstreamSpec extends SpecBase {
  readonly kind: 'ws';
  /** ws:// or wss:// URL of its MCP endpoint. */
  readonly url: string;
  /** Headers sent on the upgrade: the upstream's own credentials (a client's are never forwarded). */
  readonly headers: Readonly<Record<string, string>>;
}

/** A Streamable HTTP MCP server. */
export interface HttpUpstreamSpec extends SpecBase {
  readonly kind: 'http';
  /** http:// or https:// URL of its MCP endpoint. */
  readonly url: string;
  /** Headers sent on every request: the upstream's own credentials (a client's are never forwarded). */
  readonly headers: Readonly<Record<string, string>>;
}

/** A stdio MCP server command, one child process per session. */
export interface StdioUpstreamSpec extends SpecBase {
  readonly kind: 'stdio';
  /** Executable (looked up on PATH). */
  readonly command: string;
  /** Its arguments. */
  readonly args: readonly string[];
  /** Extra environment variables for the child. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Pass the gateway's whole environment to the child. Default false: only
   * a safe subset (PATH, HOME, USER, …; the SDK's choice) plus `env`, so the
   * gateway's own secrets do not leak into every upstream.
   */
  readonly inheritEnv: boolean;
  /** Working directory of the child. Default: the gateway's. */
  readonly cwd: string | undefined;
  /**
   * `'line'` (default): our line-delimited JSON over the child's stdio.
   * `'sdk'`: the SDK's StdioClientTransport.
   */
  readonly transport: 'line' | 'sdk';
}

/** One member of the pool, as configured. */
export type UpstreamSpec = WsUpstreamSpec | HttpUpstreamSpec | StdioUpstreamSpec;

/** One upstream MCP session. */
export interface UpstreamConnection {
  /** What it talks to. */
  readonly kind: UpstreamKind;
  /**
   * True when the upstream answers `ping` before `initialize` (ws, stdio: the
   * session exists once connected). False for Streamable HTTP, where a
   * session only exists after initialize.
   */
  readonly preInitPing: boolean;
  /** Each inbound message, parsed once. */
  onmessage: ((message: JSONRPCMessage) => void) | undefined;
  /** A problem that did not end the session; `message` is the outbound message that failed, if any. */
  onerror: ((error: Error, message?: JSONRPCMessage) => void) | undefined;
  /** Called once when the session ended, whoever ended it. */
  onclose: ((reason: string) => void) | undefined;
  /**
   * True while the upstream is not taking writes as fast as they come (a
   * stdio child's stdin pipe is full, a WebSocket's send buffer is over its
   * cap). Messages sent meanwhile are still buffered, but the sender should
   * stop producing until `ondrain`. Absent: the transport has no such signal.
   */
  readonly congested?: boolean;
  /** Called when a congested connection can take writes again. */
  ondrain?: (() => void) | undefined;
  /** Connects (spawns, opens the socket). Rejects with a one-line error naming the upstream. */
  start(): Promise<void>;
  /** Sends one message. Never throws; failures go to `onerror` or end the session. Check `congested` after. */
  send(message: JSONRPCMessage): void;
  /** Tells the transport the negotiated protocol version (Streamable HTTP sends it as a header). */
  setProtocolVersion(version: string): void;
  /** Ends the session (for stdio: ends stdin, then SIGTERM, then SIGKILL). Idempotent. */
  close(): Promise<void>;
}

/** Makes connections to one member. */
export type UpstreamConnector = (spec: UpstreamSpec, logger: Logger) => UpstreamConnection;

/**
 * Adapts any SDK `Transport` to {@link UpstreamConnection}: the WebSocket and
 * Streamable HTTP upstreams are SDK transports.
 */
export class SdkTransportConnection implements UpstreamConnection {
  /** See {@link UpstreamConnection.onmessage}. */
  onmessage: ((message: JSONRPCMessage) => void) | undefined;
  /** See {@link UpstreamConnection.onerror}. */
  onerror: ((error: Error, message?: JSONRPCMessage) => void) | undefined;
  /** See {@link UpstreamConnection.onclose}. */
  onclose: ((reason: string) => void) | undefined;
  /** Set once the session is over. */
  protected ended = false;
  private closeReported = false;
  private closing: Promise<void> | undefined;

  /**
   * @param kind what the transport talks to
   * @param transport an SDK transport, not started
   * @param preInitPing whether the upstream answers ping before initialize
   * @param describe names the upstream in error messages
   */
  constructor(
    readonly kind: UpstreamKind,
    private readonly transport: Transport,
    readonly preInitPing: boolean,
    private readonly describe: string,
  ) {
    transport.onmessage = (m: JSONRPCMessage) => this.onmessage?.(m);
    transport.onerror = (e: Error) => this.onerror?.(e);
    transport.onclose = () => this.end('transport closed');
  }

  /** Starts the transport; a failure names the upstream. */
  async start(): Promise<void> {
    try {
      await this.transport.start();
    } catch (err) {
      this.ended = true;
      throw new Error(`cannot connect to ${this.describe}: ${firstLine(err)}`, { cause: err });
    }
  }

  /** Sends one message; a rejected send goes to `onerror` with the message. */
  send(message: JSONRPCMessage): void {
    if (this.ended) {
      this.onerror?.(new Error(`${this.describe}: session closed`), message);
      return;
    }
    this.transport.send(message).catch((err: unknown) => this.sendFailed(err, message));
  }

  /** A failed send: reported with the message; subclasses may end the session. */
  protected sendFailed(err: unknown, message: JSONRPCMessage): void {
    this.onerror?.(err instanceof Error ? err : new Error(String(err)), message);
  }

  /** Forwards the negotiated version to transports that use it. */
  setProtocolVersion(version: string): void {
    this.transport.setProtocolVersion?.(version);
  }

  /** Closes the transport. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Runs before the transport is closed (Streamable HTTP ends its session with DELETE). */
  protected async beforeClose(): Promise<void> {}

  private async shutdown(): Promise<void> {
    try {
      await this.beforeClose();
      await this.transport.close();
    } catch {
      // Closing is best effort: the session is gone either way.
    }
    this.end('closed by the gateway');
  }

  /** Reports the end once. */
  protected end(reason: string): void {
    this.ended = true;
    if (this.closeReported) return;
    this.closeReported = true;
    this.onclose?.(reason);
  }
}

/** First line of an error's message. */
export function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!;
}

/**
 * Splits a command line into words, the way a POSIX shell would for plain
 * words: whitespace separates, single quotes keep everything, double quotes
 * keep everything but `\"` and `\\`, a backslash outside quotes escapes the
 * next character. No expansion of any kind.
 *
 * @throws Error on an unterminated quote
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new Error(`unterminated ' in command ${JSON.stringify(line)}`);
      word += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && (line[j + 1] === '"' || line[j + 1] === '\\')) j++;
        word += line[j];
      }
      if (j >= line.length) throw new Error(`unterminated " in command ${JSON.stringify(line)}`);
      i = j;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The URL without credentials, query or fragment, for names and messages. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url;
  }
}
