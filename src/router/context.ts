/**
 * RequestContext: what a handler gets besides its arguments — the session,
 * cancellation, progress and logging.
 *
 * One is made per request, so it is small and lazy: the AbortController is
 * created only when a handler reads `signal`, and progress is a no-op unless
 * the request carried a progressToken.
 */
import type { RequestId } from '../protocol/jsonrpc.js';
import type { Identity, SessionPeer } from '../server/handler.js';
import { LOG_LEVELS, type LogLevel } from './log-levels.js';

/** Per-session state a context reads (owned by RouterSession). */
export interface ContextSession {
  readonly peer: SessionPeer;
  readonly logLevel: number;
  readonly clientInfo: { name: string; version: string } | undefined;
  readonly protocolVersion: string | undefined;
}

/** The second argument of every handler. */
export class RequestContext {
  /** The JSON-RPC id of the request. */
  readonly requestId: RequestId;
  /** The method being served (e.g. 'tools/call'). */
  readonly method: string;
  /** @internal */
  cancelled = false;
  private controller: AbortController | undefined;
  private readonly progressToken: string | number | undefined;

  constructor(
    private readonly session: ContextSession,
    requestId: RequestId,
    method: string,
    meta: Record<string, unknown> | undefined,
  ) {
    this.requestId = requestId;
    this.method = method;
    const token = meta?.progressToken;
    this.progressToken = typeof token === 'string' || typeof token === 'number' ? token : undefined;
  }

  /** Aborted when the client sends notifications/cancelled for this request or the session closes. */
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.cancelled && !this.controller.signal.aborted) this.controller.abort();
    return this.controller.signal;
  }

  /** Id of the session (UUID). */
  get sessionId(): string {
    return this.session.peer.id;
  }

  /** Authenticated identity, when the server authenticates. */
  get identity(): Identity | undefined {
    return this.session.peer.identity;
  }

  /** What the client said about itself at initialize. */
  get clientInfo(): { name: string; version: string } | undefined {
    return this.session.clientInfo;
  }

  /** Negotiated MCP revision. */
  get protocolVersion(): string | undefined {
    return this.session.protocolVersion;
  }

  /** True when the client asked for progress (sent a progressToken). */
  get wantsProgress(): boolean {
    return this.progressToken !== undefined;
  }

  /** Sends notifications/progress when the request carried a progressToken; otherwise does nothing. */
  progress(progress: number, total?: number, message?: string): void {
    if (this.progressToken === undefined || this.cancelled) return;
    const params: Record<string, unknown> = { progressToken: this.progressToken, progress };
    if (total !== undefined) params.total = total;
    if (message !== undefined) params.message = message;
    this.session.peer.notify('notifications/progress', params);
  }

  /** Sends notifications/message when `level` is at or above the level the client set. */
  log(level: LogLevel, data: unknown, logger?: string): void {
    if (LOG_LEVELS.indexOf(level) < this.session.logLevel) return;
    const params: Record<string, unknown> = { level, data };
    if (logger !== undefined) params.logger = logger;
    this.session.peer.notify('notifications/message', params);
  }

  /** @internal Called on notifications/cancelled or session close. */
  cancel(reason: string): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.controller?.abort(new Error(reason));
  }
}
