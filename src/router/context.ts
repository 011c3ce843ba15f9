/**
 * RequestContext: what a handler gets besides its arguments — the session,
 * the request's era and metadata, cancellation, progress, logging and input
 * from the client (MRTR).
 *
 * One is made per request, so it is small and lazy: the AbortController is
 * created only when a handler reads `signal`, and progress is a no-op unless
 * the request carried a progressToken.
 */
import { ERRORS, RpcError } from '../protocol/errors.js';
import type { RequestId } from '../protocol/jsonrpc.js';
import type { RequestMeta, TraceContext } from '../protocol/meta.js';
import type { Identity, SessionPeer } from '../server/handler.js';
import { LOG_LEVELS, type LogLevel } from './log-levels.js';
import { isInputResponse, type StateBinding } from './request-state.js';
import { InputRequired, type InputRequest, type InputRequests, type RequireInputOptions } from './input.js';
import type { ContentBlock } from './content.js';

/**
 * The experimental client capability (under `capabilities.experimental`) that
 * asks for SEP-2998 partial tool results (`notifications/tools/partial_result`).
 * The SEP is a draft: the name and the notification's shape may change.
 */
export const PARTIAL_RESULTS_CAPABILITY = 'partialResults';

/** Per-session state a context reads (owned by RouterSession). */
export interface ContextSession {
  readonly peer: SessionPeer;
  readonly logLevel: number;
  readonly clientInfo: { name: string; version: string } | undefined;
  readonly clientCapabilities: Record<string, unknown> | undefined;
  readonly protocolVersion: string | undefined;
  /** Legacy era: sends one server→client request and settles with its result (bounded, cancellable). */
  askClient(request: InputRequest, signal: AbortSignal): Promise<unknown>;
}

/**
 * What a 2026-07-28 request brought besides its method's params. It is also
 * what a requestState issued for it is bound to (method, params, subject).
 */
export interface ModernRequest extends StateBinding {
  readonly meta: RequestMeta;
  /** Index into LOG_LEVELS of the lowest level sent; LOG_LEVELS.length when the request set none (nothing sent). */
  readonly logLevel: number;
  readonly inputResponses: Readonly<Record<string, unknown>> | undefined;
  /** The handler's own state from a verified requestState (see request-state.ts). */
  readonly requestState: string | undefined;
  /** Answers of earlier rounds from a verified requestState, by input key. */
  readonly carried: Readonly<Record<string, unknown>> | undefined;
}

/** The client capability each input request needs. */
const CAPABILITY_OF: Record<InputRequest['method'], string> = {
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
};

/** The second argument of every handler. */
export class RequestContext {
  /** The JSON-RPC id of the request. */
  readonly requestId: RequestId;
  /** The method being served (e.g. 'tools/call'). */
  readonly method: string;
  /** @internal */
  cancelled = false;
  private controller: AbortController | undefined;
  /** 2026-07-28: the answers requireInput resolved so far in this run (carried to the next round). */
  private answered: Record<string, unknown> | undefined;
  private readonly progressToken: string | number | undefined;

  constructor(
    private readonly session: ContextSession,
    requestId: RequestId,
    method: string,
    meta: Record<string, unknown> | undefined,
    /** @internal Set for a 2026-07-28 request; undefined in a legacy session. */
    readonly modern?: ModernRequest,
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

  /** Id of the connection's session (UUID); in 2026-07-28 it names the socket, not a conversation. */
  get sessionId(): string {
    return this.session.peer.id;
  }

  /** The client's IP address as the server sees it. */
  get remoteAddress(): string {
    return this.session.peer.remoteAddress;
  }

  /** Authenticated identity, when the server authenticates. */
  get identity(): Identity | undefined {
    return this.session.peer.identity;
  }

  /** 'modern' for a 2026-07-28 request (state from `_meta`), 'legacy' in an initialized session. */
  get era(): 'modern' | 'legacy' {
    return this.modern === undefined ? 'legacy' : 'modern';
  }

  /** What the client said about itself: this request's `_meta` (2026-07-28) or initialize. */
  get clientInfo(): { name: string; version: string } | undefined {
    return this.modern ? this.modern.meta.clientInfo : this.session.clientInfo;
  }

  /** The client's capabilities: this request's `_meta` (2026-07-28) or initialize. */
  get clientCapabilities(): Readonly<Record<string, unknown>> | undefined {
    return this.modern ? this.modern.meta.clientCapabilities : this.session.clientCapabilities;
  }

  /** MCP revision of this request: its `_meta` version (2026-07-28) or the one negotiated at initialize. */
  get protocolVersion(): string | undefined {
    return this.modern ? this.modern.meta.protocolVersion : this.session.protocolVersion;
  }

  /** W3C trace context (`traceparent`, `tracestate`, `baggage`) from the request's `_meta`, when it carried any. */
  get trace(): TraceContext | undefined {
    return this.modern?.meta.trace;
  }

  /** 2026-07-28: the `inputResponses` of a retry (keys as asked with requireInput). */
  get inputResponses(): Readonly<Record<string, unknown>> | undefined {
    return this.modern?.inputResponses;
  }

  /**
   * 2026-07-28: the state this handler gave `requireInput` (or InputRequired)
   * in the previous round, from the retry's requestState once the router has
   * verified it (sealed, bound to this call and identity, not expired).
   */
  get requestState(): string | undefined {
    return this.modern?.requestState;
  }

  /** True when the client asked for progress (sent a progressToken). */
  get wantsProgress(): boolean {
    return this.progressToken !== undefined;
  }

  /**
   * Asks the client for input and resolves with its answers, by key — one
   * call that works in both eras:
   *
   * - 2026-07-28 (MRTR, SEP-2322): a key is answered by the retry's
   *   `inputResponses` (checked to be a result of the method asked, else
   *   -32602) or by an earlier round's answer the router carried in the
   *   verified requestState. When every key is answered, resolves with them.
   *   Otherwise it rejects with {@link InputRequired}; let it propagate, and
   *   the router answers `resultType: "input_required"` with the missing
   *   requests and, when there is anything to carry (`options.requestState`,
   *   answers already given), a sealed requestState. The client retries with
   *   `inputResponses` and that state, and the handler runs again from the
   *   start: asking in several steps (one `requireInput` after another) takes
   *   one round per step, earlier answers coming back from the state.
   * - Legacy session: sends each request to the client (e.g.
   *   `elicitation/create`), waits for the answers (bounded by the router's
   *   `inputTimeoutMs`; cancelled with the request or the session) and
   *   resolves with them.
   *
   * Rejects with RpcError -32021 when the client did not declare the
   * capability a request needs (`elicitation`, `sampling`, `roots`),
   * -32001 when a legacy client does not answer in time, or the client's
   * JSON-RPC error.
   */
  requireInput(requests: InputRequests, options?: RequireInputOptions): Promise<Record<string, unknown>> {
    const keys = Object.keys(requests);
    const modern = this.modern;
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    let missing: InputRequests | undefined;
    for (const key of keys) {
      const request = requests[key]!;
      const have = modern?.inputResponses;
      if (have !== undefined && Object.hasOwn(have, key)) {
        if (!isInputResponse(request.method, have[key])) {
          return Promise.reject(new RpcError(ERRORS.INVALID_PARAMS.rpc, `Invalid params: inputResponses.${key.slice(0, 64)} is not a result of ${request.method}`));
        }
        out[key] = have[key];
      } else if (modern?.carried !== undefined && Object.hasOwn(modern.carried, key)) {
        out[key] = modern.carried[key];
      } else (missing ??= Object.create(null) as InputRequests)[key] = request;
    }
    if (modern !== undefined) Object.assign((this.answered ??= Object.create(null) as Record<string, unknown>), out);
    if (missing === undefined) return Promise.resolve(out);
    const lacking = this.lackingCapabilities(missing);
    if (lacking !== undefined) {
      const e = ERRORS.MISSING_REQUIRED_CLIENT_CAPABILITY;
      return Promise.reject(new RpcError(e.rpc, `${e.message}: ${Object.keys(lacking).join(', ')}`, { requiredCapabilities: lacking }));
    }
    if (modern !== undefined) {
      const e = new InputRequired(missing, options?.requestState);
      e.answers = this.answered;
      return Promise.reject(e);
    }
    const signal = this.signal;
    return Promise.all(keys.map((k) => this.session.askClient(requests[k]!, signal))).then((answers) => {
      keys.forEach((k, i) => (out[k] = answers[i]));
      return out;
    });
  }

  /** The client declared `capability` (`elicitation`, `sampling`, `roots`, …): in this request's `_meta` (2026-07-28) or at initialize. */
  clientSupports(capability: string): boolean {
    const caps = this.clientCapabilities;
    return caps !== undefined && caps[capability] !== undefined && caps[capability] !== null;
  }

  private lackingCapabilities(requests: InputRequests): Record<string, object> | undefined {
    const caps = this.clientCapabilities;
    let lacking: Record<string, object> | undefined;
    for (const key of Object.keys(requests)) {
      const cap = CAPABILITY_OF[requests[key]!.method];
      if (cap === undefined) throw new TypeError(`requireInput: ${key} has unknown method ${String(requests[key]!.method)}`);
      if (caps === undefined || caps[cap] === undefined || caps[cap] === null) (lacking ??= {})[cap] = {};
    }
    return lacking;
  }

  /**
   * True while the client's send queue is over the server's backpressure cap
   * (maxBufferedBytes). A handler that streams many notifications stops
   * producing until {@link whenWritable} resolves; relayStream does this.
   */
  get congested(): boolean {
    return this.session.peer.congested === true;
  }

  /** Resolves when the client's send queue is back under the cap (at once when it is), or the session closed. */
  whenWritable(): Promise<void> {
    return this.session.peer.whenWritable?.() ?? Promise.resolve();
  }

  /** True when the client declared the experimental partial-results capability (see {@link PARTIAL_RESULTS_CAPABILITY}). */
  get wantsPartialResults(): boolean {
    const experimental = this.clientCapabilities?.experimental;
    if (typeof experimental !== 'object' || experimental === null) return false;
    const cap = (experimental as Record<string, unknown>)[PARTIAL_RESULTS_CAPABILITY];
    return typeof cap === 'object' && cap !== null;
  }

  /**
   * Experimental (SEP-2998, draft): sends `notifications/tools/partial_result`
   * with `{ requestId, index, content }` — the `index`-th piece of this
   * call's result, in order. Sent only when the client declared the
   * capability; otherwise does nothing.
   */
  partialResult(index: number, content: ContentBlock[]): void {
    if (this.cancelled || !this.wantsPartialResults) return;
    const params: Record<string, unknown> = { requestId: this.requestId, index, content };
    if (this.progressToken !== undefined) params.progressToken = this.progressToken;
    this.session.peer.notify('notifications/tools/partial_result', params);
  }

  /** Sends notifications/progress when the request carried a progressToken; otherwise does nothing. */
  progress(progress: number, total?: number, message?: string): void {
    if (this.progressToken === undefined || this.cancelled) return;
    const params: Record<string, unknown> = { progressToken: this.progressToken, progress };
    if (total !== undefined) params.total = total;
    if (message !== undefined) params.message = message;
    this.session.peer.notify('notifications/progress', params);
  }

  /**
   * Sends notifications/message when `level` is at or above the level in
   * effect: this request's `_meta` log level in 2026-07-28 (none set: nothing
   * is sent), the session's logging/setLevel in a legacy session.
   */
  log(level: LogLevel, data: unknown, logger?: string): void {
    if (this.cancelled) return;
    const floor = this.modern === undefined ? this.session.logLevel : this.modern.logLevel;
    if (LOG_LEVELS.indexOf(level) < floor) return;
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
