/**
 * The one interface every LLM provider implements, the request and outcome
 * shapes, and the error every provider failure becomes. No SDK is imported
 * here: the providers (openai.ts, anthropic.ts) load theirs on first use.
 */

/** One generation request, as the `llm_generate` tool takes it. */
export interface LlmRequest {
  readonly prompt: string;
  readonly system?: string;
  /** Overrides the configured model. */
  readonly model?: string;
  readonly maxTokens?: number;
  readonly temperature?: number;
}

/** What a finished stream reported besides its text, filled in while it is read. */
export interface LlmOutcome {
  /** The model that answered, as the provider named it. */
  model: string | undefined;
  /** Why generation stopped, in the provider's words (stop, length, end_turn, max_tokens, …). */
  finishReason: string | undefined;
  inputTokens: number | undefined;
  outputTokens: number | undefined;
}

/** A provider: opens one streaming generation and yields its text deltas. */
export interface LlmProvider {
  /** 'openai-chat', 'openai-responses', 'anthropic' or 'openai-compatible'. */
  readonly kind: string;
  /** The model used when a request names none. */
  readonly model: string;
  /**
   * Opens a streaming generation. The iterable yields text deltas in order
   * and fills `outcome` as the provider reports it; it stops reading the
   * response body while it is not iterated, and aborting `signal` closes
   * the HTTP connection. Failures reject with an {@link LlmError}.
   */
  stream(request: LlmRequest, outcome: LlmOutcome, signal: AbortSignal): Promise<AsyncIterable<string>>;
}

/** Kinds of failure, counted in mcp_ws_llm_errors_total{kind}. Fixed so the metric's labels never grow. */
export const LLM_ERROR_KINDS = [
  'auth',
  'bad_request',
  'not_found',
  'rate_limited',
  'overloaded',
  'upstream',
  'connection',
  'stream',
  'first_token_timeout',
  'idle_timeout',
  'busy',
  'internal',
] as const;
export type LlmErrorKind = (typeof LLM_ERROR_KINDS)[number];

/** A provider failure, its message already free of credentials. */
export class LlmError extends Error {
  constructor(
    readonly kind: LlmErrorKind,
    message: string,
    /** HTTP status of the provider's answer, when there was one. */
    readonly status?: number,
    /** How long the provider asked to wait before trying again (Retry-After), ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'LlmError';
  }

  /** Worth trying again before any text was sent: rate limits, overload, 5xx, dropped connections. */
  get retryable(): boolean {
    return this.kind === 'rate_limited' || this.kind === 'overloaded' || this.kind === 'upstream' || this.kind === 'connection';
  }
}

/** The kind of an HTTP status from a provider. */
export function kindOfStatus(status: number): LlmErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  if (status === 529 || status === 503) return 'overloaded';
  if (status >= 500) return 'upstream';
  return 'bad_request';
}

/** Longest Retry-After honoured, ms: a provider asking for more fails the call instead. */
export const MAX_RETRY_AFTER_MS = 60_000;

/** Retry-After (seconds or an HTTP date) or retry-after-ms, in ms; undefined when absent or unreadable. */
export function retryAfterMs(headers: { get(name: string): string | null } | undefined, now = Date.now()): number | undefined {
  if (headers === undefined) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms));
  const v = headers.get('retry-after');
  if (v === null) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.ceil(Number(v) * 1000);
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Most characters of a provider's message passed on. */
const MAX_MESSAGE = 500;

/**
 * `message` with every secret in `secrets` and anything shaped like an API
 * key (sk-…, sk-ant-…, Bearer …) replaced, cut to a bounded length. A
 * provider may echo the key (or part of it) in a 401.
 */
export function redact(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  out = out.replace(/\b(sk|rk|pk)-[A-Za-z0-9_*.-]{4,}/g, '[redacted]').replace(/\bBearer\s+\S+/gi, 'Bearer [redacted]');
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}…` : out;
}

/** The shape both official SDKs give their API errors (status, headers, parsed body). */
interface SdkApiError {
  status?: unknown;
  headers?: unknown;
  error?: unknown;
  message?: unknown;
  name?: unknown;
}

/** The provider's own message inside an SDK error: body.error.message, body.message, else the SDK's message. */
function providerMessage(e: SdkApiError): string {
  const body = e.error as { message?: unknown; error?: { message?: unknown } } | undefined;
  if (typeof body?.error?.message === 'string') return body.error.message;
  if (typeof body?.message === 'string') return body.message;
  return typeof e.message === 'string' ? e.message : 'provider error';
}

/**
 * Any failure of an SDK call as an {@link LlmError}, the key removed:
 * API errors by their status, error events mid-stream as 'stream' (or by
 * their type when it names one), connection failures as 'connection'.
 */
export function toLlmError(err: unknown, secrets: readonly string[]): LlmError {
  if (err instanceof LlmError) return err;
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as SdkApiError;
  const name = typeof e.name === 'string' ? e.name : '';
  if (typeof e.status === 'number') {
    const headers = typeof (e.headers as { get?: unknown } | undefined)?.get === 'function' ? (e.headers as { get(n: string): string | null }) : undefined;
    return new LlmError(kindOfStatus(e.status), redact(providerMessage(e), secrets), e.status, retryAfterMs(headers));
  }
  if (name === 'APIConnectionError' || name === 'APIConnectionTimeoutError' || name === 'TypeError') {
    return new LlmError('connection', redact(`connection to the provider failed: ${String(e.message)}`, secrets));
  }
  if (name === 'APIError' || e.error !== undefined) {
    // An error event in the stream (no HTTP status): Anthropic names its type, OpenAI its code.
    const type = (e.error as { error?: { type?: unknown }; type?: unknown } | undefined)?.error?.type;
    const kind = type === 'overloaded_error' ? 'overloaded' : type === 'rate_limit_error' ? 'rate_limited' : 'stream';
    return new LlmError(kind, redact(providerMessage(e), secrets));
  }
  return new LlmError('stream', redact(typeof e.message === 'string' ? e.message : 'provider stream failed', secrets));
}
