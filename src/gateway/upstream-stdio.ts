/**
 * An upstream stdio MCP server: a command run as a child process, one child
 * per MCP session, speaking newline-delimited JSON-RPC on stdin/stdout (the
 * MCP stdio transport). stderr is the server's log: its lines go to the
 * gateway's logger at debug level, and its tail is kept to explain an exit.
 *
 * Our own framing by default (`transport: 'line'`): one Buffer scan for
 * newlines and one JSON.parse per message, no per-message validation — the
 * SDK's StdioClientTransport (`transport: 'sdk'`) validates every inbound
 * message with zod, which costs more than the pipe itself on small messages.
 *
 * Replies are framed in linear time however they are chunked: bytes of an
 * unfinished line are kept as a list of chunks and only new bytes are
 * scanned for the newline. A line longer than `maxLineBytes` (default
 * {@link STDIO_MAX_LINE_BYTES}, 64 MiB) means the child is broken: it is
 * reported to `onerror` and the child is killed, which ends the session.
 *
 * Writes respect the pipe: when `stdin.write()` returns false the
 * connection is `congested` until stdin drains, and the gateway stops
 * reading the client meanwhile.
 *
 * Children never outlive the gateway: close() ends stdin, so a server sees
 * EOF and can flush and exit on its own; SIGTERM follows after
 * `closeGraceMs` (default {@link STDIO_CLOSE_GRACE_MS}) and SIGKILL after as
 * long again. A {@link StdioChildren} group lets the gateway wait for every
 * child it started, released ones included, before it returns from close();
 * a process `exit` hook SIGKILLs any child still running.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Logger } from 'pino';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { SdkTransportConnection, type UpstreamConnection } from './upstream.js';
import type { StdioUpstreamSpec } from './upstream-spec.js';
import { GATEWAY_OPTIONS } from './session-options.js';

/** Default time a child gets after stdin closes before SIGTERM, and after SIGTERM before SIGKILL. */
export const STDIO_CLOSE_GRACE_MS = GATEWAY_OPTIONS.defaults.closeGraceMs;
/** Largest line accepted from a child (a longer one ends the session). */
export const STDIO_MAX_LINE_BYTES = 64 * 1024 * 1024;
const STDERR_TAIL_BYTES = 2048;

const live = new Set<ChildProcessWithoutNullStreams>();
let exitHook = false;

/** SIGKILLs every child still running (process exit hook; also usable by tests). */
export function killAllStdioChildren(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  live.clear();
}

function track(child: ChildProcessWithoutNullStreams): void {
  if (!exitHook) {
    exitHook = true;
    process.once('exit', killAllStdioChildren);
  }
  live.add(child);
  const forget = (): void => {
    live.delete(child);
  };
  child.once('exit', forget);
  // A spawn that fails (ENOENT, EACCES) emits 'error' and never 'exit'.
  child.once('error', forget);
}

/** Children running now (or starting): for tests and diagnostics. */
export function stdioChildCount(): number {
  return live.size;
}

/** Options of a stdio connection. */
export interface StdioConnectionOptions {
  /** Time after stdin EOF before SIGTERM, and after SIGTERM before SIGKILL. Default {@link STDIO_CLOSE_GRACE_MS}. */
  readonly closeGraceMs?: number;
  /** Longest line accepted from the child. Default {@link STDIO_MAX_LINE_BYTES}. */
  readonly maxLineBytes?: number;
  /** The group the connection belongs to while its child runs. */
  readonly group?: StdioChildren;
}

/**
 * The stdio connections one gateway started whose children have not exited:
 * close() stops them all gracefully (stdin EOF first) and resolves once they
 * have exited, including the ones already released and closing.
 */
export class StdioChildren {
  private readonly running = new Set<{ close(): Promise<void> }>();

  /** @internal */
  add(conn: { close(): Promise<void> }): void {
    this.running.add(conn);
  }

  /** @internal */
  delete(conn: { close(): Promise<void> }): void {
    this.running.delete(conn);
  }

  /** Children not yet exited. */
  get size(): number {
    return this.running.size;
  }

  /** Closes every connection (idempotent per connection) and waits for the children to exit. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.running].map((c) => c.close()));
  }
}

/** The child's environment: a safe subset of ours (or all of it with inheritEnv) plus spec.env. */
function childEnv(spec: StdioUpstreamSpec): NodeJS.ProcessEnv {
  const base = spec.inheritEnv ? { ...process.env } : getDefaultEnvironment();
  return { ...base, ...spec.env };
}

/** A display form of the command for messages. */
export function describeCommand(spec: StdioUpstreamSpec): string {
  const args = spec.args.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a));
  return [spec.command, ...args].join(' ');
}

/** Makes the connection for a stdio member: ours or the SDK's, as the spec says. */
export function createStdioConnection(spec: StdioUpstreamSpec, logger: Logger, options: StdioConnectionOptions = {}): UpstreamConnection {
  if (spec.transport === 'sdk') {
    const transport = new StdioClientTransport({
      command: spec.command,
      args: [...spec.args],
      env: childEnv(spec) as Record<string, string>,
      cwd: spec.cwd,
      stderr: 'ignore',
    });
    return new SdkStdioConnection(transport, `stdio upstream "${describeCommand(spec)}"`, options.group);
  }
  return new StdioUpstreamConnection(spec, logger, options);
}

/**
 * The SDK's stdio transport, in a group until its session ends. Its close()
 * ends stdin and waits for the child (2 s, SIGTERM, 2 s, SIGKILL: the SDK's
 * own timings; closeGraceMs does not apply).
 */
class SdkStdioConnection extends SdkTransportConnection {
  constructor(
    transport: StdioClientTransport,
    describe: string,
    private readonly group: StdioChildren | undefined,
  ) {
    super('stdio', transport, true, describe);
    group?.add(this);
  }

  protected override end(reason: string): void {
    this.group?.delete(this);
    super.end(reason);
  }
}

/** One MCP session with one child process, newline-delimited JSON on its stdio. */
export class StdioUpstreamConnection implements UpstreamConnection {
  /** Always `'stdio'`. */
  readonly kind = 'stdio' as const;
  /** A stdio server answers ping as soon as it reads stdin. */
  readonly preInitPing = true;
  /** See {@link UpstreamConnection.onmessage}. */
  onmessage: ((message: JSONRPCMessage) => void) | undefined;
  /** See {@link UpstreamConnection.onerror}. */
  onerror: ((error: Error, message?: JSONRPCMessage) => void) | undefined;
  /** See {@link UpstreamConnection.onclose}. */
  onclose: ((reason: string) => void) | undefined;
  /** True while the child's stdin is not draining (the last write returned false). */
  congested = false;
  /** See {@link UpstreamConnection.ondrain}. */
  ondrain: (() => void) | undefined;
  private child: ChildProcessWithoutNullStreams | undefined;
  /** Bytes of an unfinished line, in arrival order; none are copied until the line is complete. */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Set after a line over the cap: the rest of the output is ignored. */
  private broken = false;
  private readonly closeGraceMs: number;
  private readonly maxLineBytes: number;
  private readonly group: StdioChildren | undefined;
  private stderrTail = '';
  private stderrPartial = '';
  private ended = false;
  private closeReported = false;
  private closing: Promise<void> | undefined;
  private exited: Promise<void> | undefined;
  private readonly label: string;

  /**
   * @param spec the member
   * @param logger receives the child's stderr lines at debug level
   * @param options grace periods, line cap, group
   */
  constructor(
    private readonly spec: StdioUpstreamSpec,
    private readonly logger: Logger,
    options: StdioConnectionOptions = {},
  ) {
    this.label = `stdio upstream "${describeCommand(spec)}"`;
    this.closeGraceMs = options.closeGraceMs ?? STDIO_CLOSE_GRACE_MS;
    this.maxLineBytes = options.maxLineBytes ?? STDIO_MAX_LINE_BYTES;
    this.group = options.group;
  }

  /** The child's pid once started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawns the child; rejects with a one-line error when it cannot start. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let child: ChildProcessWithoutNullStreams;
      try {
        child = spawn(this.spec.command, [...this.spec.args], {
          cwd: this.spec.cwd,
          env: childEnv(this.spec),
          stdio: ['pipe', 'pipe', 'pipe'],
          windowsHide: true,
        });
      } catch (err) {
        reject(new Error(`cannot start ${this.label}: ${(err as Error).message}`));
        return;
      }
      this.child = child;
      track(child);
      this.group?.add(this);
      this.exited = new Promise((r) => {
        const done = (): void => {
          this.group?.delete(this);
          r();
        };
        child.once('exit', done);
        // A failed spawn never exits.
        child.once('error', () => {
          if (child.pid === undefined) done();
        });
      });
      const onSpawnError = (err: NodeJS.ErrnoException): void => {
        this.ended = true;
        const why = err.code === 'ENOENT' ? 'command not found' : err.message;
        reject(new Error(`cannot start ${this.label}: ${why}`));
      };
      child.once('error', onSpawnError);
      child.once('spawn', () => {
        child.off('error', onSpawnError);
        child.on('error', (err) => this.onerror?.(err));
        resolve();
      });
      child.stdout.on('data', (chunk: Buffer) => this.receive(chunk));
      child.stderr.on('data', (chunk: Buffer) => this.receiveStderr(chunk));
      // EPIPE after the child died: the exit event reports the end.
      child.stdin.on('error', () => {});
      child.once('exit', (code, signal) => {
        const how = signal !== null ? `killed by ${signal}` : `exited with code ${String(code)}`;
        const tail = this.stderrTail.trim().split('\n').pop();
        this.end(tail ? `${how} (stderr: ${tail.slice(0, 200)})` : how);
      });
    });
  }

  /** Writes one message as a line. Writes after the end are reported to onerror. */
  send(message: JSONRPCMessage): void {
    const child = this.child;
    if (this.ended || child === undefined || !child.stdin.writable) {
      this.onerror?.(new Error(`${this.label}: process not running`), message);
      return;
    }
    if (!child.stdin.write(`${JSON.stringify(message)}\n`) && !this.congested) {
      this.congested = true;
      child.stdin.once('drain', this.drained);
    }
  }

  private readonly drained = (): void => {
    this.congested = false;
    this.ondrain?.();
  };

  /** Nothing to do: the stdio transport has no version header. */
  setProtocolVersion(_version: string): void {}

  /** Ends stdin, then SIGTERM, then SIGKILL; resolves once the child has exited. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      this.group?.delete(this);
      this.end('closed by the gateway');
      return;
    }
    child.stdin.end();
    const grace = this.closeGraceMs;
    const term = setTimeout(() => child.kill('SIGTERM'), grace);
    const kill = setTimeout(() => child.kill('SIGKILL'), 2 * grace);
    await this.exited;
    clearTimeout(term);
    clearTimeout(kill);
  }

  /**
   * Splits stdout into lines; each line is one JSON-RPC message. Every byte
   * is scanned once and copied at most once (when a line spans chunks).
   */
  private receive(chunk: Buffer): void {
    if (this.broken) return;
    let start = 0;
    let nl = chunk.indexOf(10);
    if (this.partBytes > 0) {
      if (nl === -1) {
        this.keep(chunk);
        return;
      }
      const size = this.partBytes + nl;
      if (size > this.maxLineBytes) {
        this.overflow();
        return;
      }
      this.parts.push(chunk.subarray(0, nl));
      const whole = Buffer.concat(this.parts, size);
      this.parts = [];
      this.partBytes = 0;
      this.line(whole.toString('utf8'));
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    while (nl !== -1) {
      if (nl > start) this.line(chunk.toString('utf8', start, nl));
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    if (start < chunk.length) this.keep(start === 0 ? chunk : chunk.subarray(start));
  }

  /** Holds bytes of an unfinished line. */
  private keep(bytes: Buffer): void {
    this.partBytes += bytes.length;
    if (this.partBytes > this.maxLineBytes) {
      this.overflow();
      return;
    }
    this.parts.push(bytes);
  }

  /** A line over the cap: the child is not speaking MCP; end the session. */
  private overflow(): void {
    this.broken = true;
    this.parts = [];
    this.partBytes = 0;
    this.onerror?.(new Error(`${this.label}: a line longer than ${this.maxLineBytes} bytes; ending the session`));
    this.child?.kill('SIGKILL');
  }

  private line(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      // Servers sometimes print banners on stdout; MCP says they must not, so skip, loudly.
      this.onerror?.(new Error(`${this.label}: ignored a stdout line that is not JSON: ${text.slice(0, 120)}`));
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    this.onmessage?.(msg as JSONRPCMessage);
  }

  private receiveStderr(chunk: Buffer): void {
    const text = this.stderrPartial + chunk.toString('utf8');
    const lines = text.split('\n');
    this.stderrPartial = (lines.pop() ?? '').slice(-STDERR_TAIL_BYTES);
    for (const line of lines) {
      if (line.length > 0) this.logger.debug({ upstream: this.spec.name, pid: this.child?.pid }, line.slice(0, 1000));
    }
    this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_BYTES);
  }

  private end(reason: string): void {
    this.ended = true;
    if (this.closeReported) return;
    this.closeReported = true;
    this.onclose?.(reason);
  }
}
