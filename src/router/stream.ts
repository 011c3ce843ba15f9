/**
 * relayStream: a tool handler's stream of text deltas, relayed to the client
 * while it is produced, with flow control.
 *
 *   router.tool({ name: 'story' }, (args, ctx) =>
 *     relayStream(ctx, (signal) => model.stream(args.prompt, { signal })).then((r) => r.text));
 *
 * Each delta reaches the client as `notifications/progress` (the delta in
 * `message`, `progress` the number of characters relayed so far, so it only
 * grows) when the request carried a progressToken, or as the experimental
 * `notifications/tools/partial_result` when the client declared that
 * capability (RequestContext.partialResult). Without either, the text is
 * only gathered for the final result.
 *
 * Flow control. The relay pulls the source one delta at a time (`for await`):
 * while it does not pull, a source that reads a network body stops reading
 * it, and TCP pushes back on the sender. Deltas go out at once while the
 * client's send queue is under the server's cap (ctx.congested false). When
 * it is over, deltas are held, up to `bufferSize` of them; at that bound the
 * relay stops pulling until the queue drains (ctx.whenWritable), then sends
 * what it held, coalesced into notifications of up to `chunkSize`
 * characters. A client that never drains is closed by the server's
 * slow-consumer policy (4001), which cancels the request.
 *
 * Time limits: `firstDeltaTimeoutMs` from opening the source to its first
 * delta, `idleTimeoutMs` between deltas (time spent waiting for the client
 * does not count). Either aborts the source and rejects with a
 * {@link StreamTimeoutError}.
 *
 * Cancellation: notifications/cancelled, a closed session, a timeout, an
 * `onDelta` that throws, or a failed send abort the AbortSignal given to
 * `open` and end the iterator (return()), so a network source closes its
 * connection.
 *
 * Retries happen only before the first delta (no text is ever sent twice):
 * when opening or reading fails before it, `retry(err, attempt)` says how
 * long to wait before opening again, or undefined to give up.
 */
import { ERRORS, RpcError } from '../protocol/errors.js';
import type { RequestContext } from './context.js';

/** Opens the source of one attempt; it must stop (and free its connection) when `signal` aborts. */
export type StreamOpener = (signal: AbortSignal, attempt: number) => AsyncIterable<string> | Promise<AsyncIterable<string>>;
// The contract: once `signal` aborts, the source's pending and later reads end
// (reject or finish) soon; the official SDKs do (fetch rejects the body read).

/**
 * What relayStream needs of a request: a RequestContext is one (router
 * tools); {@link sdkStreamTarget} makes one from an SDK request handler's
 * `extra` (SDK-hosted servers).
 */
export type StreamTarget = Pick<
  RequestContext,
  'signal' | 'cancelled' | 'wantsProgress' | 'wantsPartialResults' | 'congested' | 'whenWritable' | 'progress' | 'partialResult'
>;

/** The part of an SDK (v1 or v2) request handler's `extra` that {@link sdkStreamTarget} reads. */
export interface SdkRequestExtra {
  readonly signal: AbortSignal;
  readonly _meta?: { readonly progressToken?: string | number } | undefined;
  sendNotification(notification: { method: string; params?: Record<string, unknown> }): Promise<void>;
}

/**
 * A {@link StreamTarget} for a tool of an SDK-hosted server: progress goes
 * out through the SDK's `sendNotification`, cancellation comes from its
 * `signal`. The SDK does not say when the client's socket is congested, so
 * the relay never holds deltas back here: the server's slow-consumer policy
 * is what bounds a client that does not read.
 */
export function sdkStreamTarget(extra: SdkRequestExtra): StreamTarget {
  const token = extra._meta?.progressToken;
  return {
    get signal() {
      return extra.signal;
    },
    get cancelled() {
      return extra.signal.aborted;
    },
    wantsProgress: token !== undefined,
    wantsPartialResults: false,
    congested: false,
    whenWritable: () => Promise.resolve(),
    progress(progress: number, total?: number, message?: string): void {
      if (token === undefined || extra.signal.aborted) return;
      const params: Record<string, unknown> = { progressToken: token, progress };
      if (total !== undefined) params.total = total;
      if (message !== undefined) params.message = message;
      extra.sendNotification({ method: 'notifications/progress', params }).catch(() => {});
    },
    partialResult(): void {},
  };
}

/** Options of {@link relayStream}. */
export interface RelayOptions {
  /** Deltas held per stream while the client's send queue is over its cap; at the bound the source is not read. Default 64. */
  bufferSize?: number;
  /** Most characters per notification when held deltas are coalesced. Default 1024. */
  chunkSize?: number;
  /** Longest wait from opening the source to its first delta, ms; 0: none. Default 0. */
  firstDeltaTimeoutMs?: number;
  /** Longest wait for the source between deltas, ms; 0: none. Default 0. */
  idleTimeoutMs?: number;
  /** Before the first delta only: ms to wait before opening the source again after `err`, or undefined to fail. */
  retry?: (err: unknown, attempt: number) => number | undefined;
  /** Called with every delta, in order, before it is sent. A throw aborts the stream and rejects with it. */
  onDelta?: (text: string) => void;
  /** Called each time the relay stops reading the source because the client is not reading (e.g. to count it). */
  onPause?: () => void;
}

/** What {@link relayStream} resolves with. */
export interface RelayResult {
  /** The whole text, every delta in order. */
  readonly text: string;
  /** Deltas received from the source. */
  readonly deltas: number;
  /** Notifications sent to the client (fewer than deltas when held deltas were coalesced). */
  readonly notifications: number;
  /** Milliseconds from the first open to the first delta; undefined when there was none. */
  readonly firstDeltaMs: number | undefined;
  /** Times the source was opened. */
  readonly attempts: number;
  /** Times the relay stopped reading the source because the client was not reading. */
  readonly pauses: number;
}

/** A time limit of {@link relayStream} passed. */
export class StreamTimeoutError extends Error {
  constructor(readonly kind: 'first_delta' | 'idle', readonly timeoutMs: number) {
    super(kind === 'first_delta' ? `no output within ${timeoutMs} ms` : `no output for ${timeoutMs} ms`);
    this.name = 'StreamTimeoutError';
  }
}

const DEFAULT_BUFFER_SIZE = 64;
const DEFAULT_CHUNK_SIZE = 1024;

/** The client went away or cancelled: what the relay rejects with then (the router sends no reply). */
function cancelledError(): RpcError {
  return new RpcError(ERRORS.REQUEST_CANCELLED.rpc, ERRORS.REQUEST_CANCELLED.message);
}

/**
 * Relays the deltas of `source` to the client of `ctx` (see the module
 * comment) and resolves with the whole text. `source` is an opener (which
 * gets an AbortSignal and can be retried) or an async iterable of strings.
 */
export async function relayStream(ctx: StreamTarget, source: StreamOpener | AsyncIterable<string>, options: RelayOptions = {}): Promise<RelayResult> {
  const bufferSize = Math.max(1, options.bufferSize ?? DEFAULT_BUFFER_SIZE);
  const chunkSize = Math.max(1, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
  const firstMs = options.firstDeltaTimeoutMs ?? 0;
  const idleMs = options.idleTimeoutMs ?? 0;
  const open: StreamOpener = typeof source === 'function' ? source : () => source;
  const guarded = typeof source !== 'function';
  const onDelta = options.onDelta;
  const partial = ctx.wantsPartialResults;
  const sending = partial || ctx.wantsProgress;
  const parts: string[] = [];
  let chars = 0;
  let deltas = 0;
  let notifications = 0;
  let pauses = 0;
  let firstDeltaMs: number | undefined;
  const started = performance.now();
  const pending: string[] = [];
  let drainScheduled = false;

  const send = (text: string): void => {
    notifications++;
    if (partial) ctx.partialResult(notifications - 1, [{ type: 'text', text }]);
    else ctx.progress(chars, undefined, text);
  };
  // Held deltas leave coalesced: up to chunkSize characters per notification.
  const flush = (): void => {
    let i = 0;
    while (i < pending.length) {
      let text = pending[i++]!;
      while (i < pending.length && text.length + pending[i]!.length <= chunkSize) text += pending[i++]!;
      send(text);
    }
    pending.length = 0;
  };
  const flushWhenWritable = (): void => {
    drainScheduled = false;
    if (pending.length > 0 && !ctx.cancelled) flush();
  };

  const outer = ctx.signal;
  if (outer.aborted) throw cancelledError();
  let attempt = 0;
  for (;;) {
    const controller = new AbortController();
    const abort = (): void => controller.abort(outer.reason);
    outer.addEventListener('abort', abort, { once: true });
    let timedOut: StreamTimeoutError | undefined;
    let waiting = true; // waiting on the source (the clock runs), not on the client
    const limit = firstDeltaMs === undefined ? firstMs : idleMs;
    let timer: NodeJS.Timeout | undefined;
    const onTimer = (): void => {
      if (!waiting) {
        timer!.refresh();
        return;
      }
      timedOut = new StreamTimeoutError(firstDeltaMs === undefined ? 'first_delta' : 'idle', firstDeltaMs === undefined ? firstMs : idleMs);
      controller.abort(timedOut);
    };
    if (limit > 0) timer = setTimeout(onTimer, limit);
    let iterator: AsyncIterator<string> | undefined;
    attempt++;
    try {
      const iterable = await untilAborted(open(controller.signal, attempt - 1), controller.signal);
      iterator = iterable[Symbol.asyncIterator]();
      for (;;) {
        // An opener's source ends when its signal aborts (the SDKs reject the
        // pending read), so its reads are awaited as they are; a plain
        // iterable was given no signal, so each read is raced with the abort.
        const r = guarded ? await untilAborted(iterator.next(), controller.signal) : await iterator.next();
        if (r.done === true) {
          // The SDKs end a stream whose signal aborted as if it had finished: it did not.
          if (controller.signal.aborted) throw controller.signal.reason;
          break;
        }
        const delta = r.value;
        if (typeof delta !== 'string' || delta.length === 0) continue;
        if (firstDeltaMs === undefined) {
          firstDeltaMs = performance.now() - started;
          if (timer !== undefined) clearTimeout(timer);
          timer = idleMs > 0 ? setTimeout(onTimer, idleMs) : undefined;
        } else timer?.refresh();
        deltas++;
        parts.push(delta);
        chars += delta.length;
        onDelta?.(delta);
        if (!sending) continue;
        if (pending.length === 0 && !ctx.congested) {
          send(delta);
          continue;
        }
        pending.push(delta);
        if (!ctx.congested) {
          flush();
          continue;
        }
        if (pending.length < bufferSize) {
          if (!drainScheduled) {
            drainScheduled = true;
            void ctx.whenWritable().then(flushWhenWritable);
          }
          continue;
        }
        // Full: stop reading the source until the client drains.
        pauses++;
        options.onPause?.();
        waiting = false;
        await untilAborted(ctx.whenWritable(), controller.signal);
        waiting = true;
        timer?.refresh();
        flush();
      }
      if (pending.length > 0) flush();
      return { text: parts.join(''), deltas, notifications, firstDeltaMs, attempts: attempt, pauses };
    } catch (err) {
      if (!controller.signal.aborted) controller.abort(err);
      if (outer.aborted || ctx.cancelled) throw cancelledError();
      if (timedOut !== undefined) throw timedOut;
      const delay = firstDeltaMs === undefined ? options.retry?.(err, attempt - 1) : undefined;
      if (delay === undefined) throw err;
      await sleep(delay, outer);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      outer.removeEventListener('abort', abort);
      // Ended early: end the iterator too, so the source lets its connection go.
      if (controller.signal.aborted && iterator?.return !== undefined) iterator.return().catch(() => {});
    }
  }
}

/** Settles as `p` does, or rejects with the signal's reason once it aborts, whichever comes first. */
function untilAborted<T>(p: T | Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    Promise.resolve(p).then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/** Waits `ms`, or rejects as cancelled when `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(cancelledError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(cancelledError());
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
