/**
 * A scripted upstream connection for exact pool tests: start() settles when
 * the test says so, pings (and, optionally, other requests) are answered by
 * a handler the test supplies, and everything sent is recorded.
 */
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamConnection, UpstreamConnector } from '../../src/gateway/upstream.js';
import type { UpstreamSpec } from '../../src/gateway/upstream-spec.js';

type Answer = (request: { id: number; method: string; params?: Record<string, unknown> }) => unknown;

/** One fake upstream session. */
export class FakeConnection implements UpstreamConnection {
  readonly kind = 'ws' as const;
  onmessage: ((message: JSONRPCMessage) => void) | undefined;
  onerror: ((error: Error, message?: JSONRPCMessage) => void) | undefined;
  onclose: ((reason: string) => void) | undefined;
  readonly sent: JSONRPCMessage[] = [];
  closed = false;
  private resolveStart!: () => void;
  private rejectStart!: (err: Error) => void;
  private readonly started: Promise<void>;

  constructor(
    readonly spec: UpstreamSpec,
    readonly preInitPing: boolean,
    private readonly answer: Answer | undefined,
  ) {
    this.started = new Promise<void>((resolve, reject) => {
      this.resolveStart = resolve;
      this.rejectStart = reject;
    });
  }

  /** Lets start() resolve. */
  open(): void {
    this.resolveStart();
  }

  /** Lets start() reject. */
  fail(message = `${this.spec.name}: connection refused`): void {
    this.rejectStart(new Error(message));
  }

  /** Delivers one message as if the upstream sent it. */
  deliver(message: Record<string, unknown>): void {
    this.onmessage?.({ jsonrpc: '2.0', ...message } as JSONRPCMessage);
  }

  /** The upstream goes away. */
  drop(reason = 'connection reset'): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.(reason);
  }

  start(): Promise<void> {
    return this.started;
  }

  send(message: JSONRPCMessage): void {
    this.sent.push(message);
    const m = message as { id?: number; method?: string; params?: Record<string, unknown> };
    if (m.id === undefined || m.method === undefined) return;
    const req = { id: m.id, method: m.method, params: m.params };
    const result = m.method === 'ping' ? {} : this.answer?.(req);
    if (result !== undefined) queueMicrotask(() => this.deliver({ id: m.id, result }));
  }

  setProtocolVersion(): void {}

  close(): Promise<void> {
    this.drop('closed');
    return Promise.resolve();
  }
}

/** A connector that records every connection it makes. */
export function fakeConnector(options: { preInitPing?: boolean; answer?: Answer; openAtOnce?: boolean } = {}): {
  connect: UpstreamConnector;
  conns: FakeConnection[];
} {
  const conns: FakeConnection[] = [];
  const connect: UpstreamConnector = (spec) => {
    const c = new FakeConnection(spec, options.preInitPing ?? false, options.answer);
    conns.push(c);
    if (options.openAtOnce === true) c.open();
    return c;
  };
  return { connect, conns };
}

/** Lets pending promise callbacks and immediates run (no wall-clock wait). */
export async function flush(rounds = 5): Promise<void> {
  for (let k = 0; k < rounds; k++) await new Promise<void>((r) => setImmediate(r));
}

/** A ws spec by name. */
export function wsSpec(name: string): UpstreamSpec {
  return { kind: 'ws', name, weight: 1, url: `ws://127.0.0.1:9/${name}`, headers: {} };
}
