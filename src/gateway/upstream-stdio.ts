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
 * Children never outlive the gateway: close() ends stdin, then sends SIGTERM
 * after {@link STDIO_TERM_GRACE_MS} and SIGKILL after as long again, and a
 * process `exit` hook SIGKILLs any child still running.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Logger } from 'pino';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { SdkTransportConnection, type StdioUpstreamSpec, type UpstreamConnection } from './upstream.js';

/** Time a child gets after stdin closes before SIGTERM, and after SIGTERM before SIGKILL. */
export const STDIO_TERM_GRACE_MS = 1_000;
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
  child.once('exit', () => live.delete(child));
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
export function createStdioConnection(spec: StdioUpstreamSpec, logger: Logger): UpstreamConnection {
  if (spec.transport === 'sdk') {
    const transport = new StdioClientTransport({
      command: spec.command,
      args: [...spec.args],
      env: childEnv(spec) as Record<string, string>,
      cwd: spec.cwd,
      stderr: 'ignore',
    });
    return new SdkTransportConnection('stdio', transport, true, `stdio upstream "${describeCommand(spec)}"`);
  }
  return new StdioUpstreamConnection(spec, logger);
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
  private child: ChildProcessWithoutNullStreams | undefined;
  private pending: Buffer | undefined;
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
   */
  constructor(
    private readonly spec: StdioUpstreamSpec,
    private readonly logger: Logger,
  ) {
    this.label = `stdio upstream "${describeCommand(spec)}"`;
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
      this.exited = new Promise((r) => child.once('exit', () => r()));
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
    child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  /** Nothing to do: the stdio transport has no version header. */
  setProtocolVersion(_version: string): void {}

  /** Ends stdin, then SIGTERM, then SIGKILL; resolves once the child has exited. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      this.end('closed by the gateway');
      return;
    }
    child.stdin.end();
    const term = setTimeout(() => child.kill('SIGTERM'), STDIO_TERM_GRACE_MS);
    const kill = setTimeout(() => child.kill('SIGKILL'), 2 * STDIO_TERM_GRACE_MS);
    await this.exited;
    clearTimeout(term);
    clearTimeout(kill);
  }

  /** Splits stdout into lines; each line is one JSON-RPC message. */
  private receive(chunk: Buffer): void {
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl === -1) break;
      if (nl > start) this.line(buf.toString('utf8', start, nl));
      start = nl + 1;
    }
    if (start === buf.length) {
      this.pending = undefined;
      return;
    }
    buf = start === 0 ? buf : buf.subarray(start);
    if (buf.length > STDIO_MAX_LINE_BYTES) {
      this.pending = undefined;
      this.onerror?.(new Error(`${this.label}: a line longer than ${STDIO_MAX_LINE_BYTES} bytes; ending the session`));
      this.child?.kill('SIGKILL');
      return;
    }
    // Copy so the big chunk it came from can be collected.
    this.pending = Buffer.from(buf);
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
