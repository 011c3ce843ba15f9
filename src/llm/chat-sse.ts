/**
 * The lean Chat Completions stream for OpenAI-compatible servers (Ollama,
 * vLLM, llama.cpp server, LM Studio): undici's `request` (a Node stream
 * body, no WHATWG streams) and our own SSE parser (sse.ts), instead of the
 * `openai` package's fetch + stream decoder. Same request body, same
 * deltas and outcome, same errors (LlmError, the key redacted) as the SDK
 * path in openai.ts; a fraction of the CPU per delta (docs/PERFORMANCE.md).
 * The default for `openai-compatible`; `llm.client: "sdk"` selects the
 * SDK. OpenAI and Anthropic themselves keep their official SDKs.
 *
 * Flow control: the body is read only while the relay pulls deltas, so an
 * unread body fills undici's buffer and undici stops reading the socket.
 * Cancellation: the AbortSignal goes to undici, which destroys the
 * connection of a request aborted mid-body (it is never handed back to the
 * keep-alive pool half read); ending the iterator early destroys the body
 * the same way.
 */
import type { Dispatcher } from 'undici';
import { kindOfStatus, LlmError, redact, retryAfterMs, type LlmOutcome, type LlmProvider, type LlmRequest } from './provider.js';
import { SseParser, SseTooLargeError } from './sse.js';

/** What the lean provider is made from. */
export interface LeanChatProviderConfig {
  readonly model: string;
  /** Sent as a bearer token when set; OpenAI-compatible servers mostly need none. */
  readonly apiKey?: string;
  /** Base URL of the API, e.g. http://127.0.0.1:11434/v1. */
  readonly baseURL: string;
  readonly maxTokens: number;
  readonly onUpstreamBytes?: (n: number) => void;
}

/** Most bytes of an error answer's body read for its message. */
const MAX_ERROR_BODY = 64 * 1024;

type UndiciModule = typeof import('undici');
let undiciModule: Promise<UndiciModule> | undefined;
function loadUndici(): Promise<UndiciModule> {
  undiciModule ??= import('undici');
  return undiciModule;
}

/** Chunk of a Chat Completions stream, the fields read here. */
interface ChatChunk {
  model?: string;
  choices?: Array<{ delta?: { content?: string | null }; finish_reason?: string | null }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: unknown } | string;
}

/** Makes the lean OpenAI-compatible provider (kind 'openai-compatible'). */
export function createLeanChatProvider(config: LeanChatProviderConfig): LlmProvider {
  const secrets = config.apiKey !== undefined ? [config.apiKey] : [];
  const url = new URL(`${config.baseURL.replace(/\/+$/, '')}/chat/completions`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`llm.baseURL must be http or https, got ${url.protocol}`);
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
  if (config.apiKey !== undefined) headers.authorization = `Bearer ${config.apiKey}`;
  let agent: Promise<Dispatcher> | undefined;
  const getAgent = (): Promise<Dispatcher> =>
    (agent ??= loadUndici().then(({ Agent }) => new Agent({ keepAliveTimeout: 4_000, headersTimeout: 300_000, bodyTimeout: 0 })));
  const count = config.onUpstreamBytes;

  return {
    kind: 'openai-compatible',
    model: config.model,
    async stream(request: LlmRequest, outcome: LlmOutcome, signal: AbortSignal): Promise<AsyncIterable<string>> {
      const messages: Array<{ role: 'system' | 'user'; content: string }> = [];
      if (request.system !== undefined) messages.push({ role: 'system', content: request.system });
      messages.push({ role: 'user', content: request.prompt });
      const body = JSON.stringify({
        model: request.model ?? config.model,
        messages,
        max_completion_tokens: request.maxTokens ?? config.maxTokens,
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
        stream: true,
        stream_options: { include_usage: true },
      });
      const dispatcher = await getAgent();
      let res: Dispatcher.ResponseData;
      try {
        res = await dispatcher.request({ origin: url.origin, path: url.pathname + url.search, method: 'POST', headers, body, signal });
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        throw new LlmError('connection', redact(`connection to the provider failed: ${(err as Error).message}`, secrets));
      }
      if (res.statusCode !== 200) throw await statusError(res, secrets, signal);
      return deltas(res.body, outcome, signal, secrets, count);
    },
  };
}

/** The LlmError of a non-200 answer: the provider's message from its JSON body (bounded), Retry-After honoured. */
async function statusError(res: Dispatcher.ResponseData, secrets: readonly string[], signal: AbortSignal): Promise<LlmError> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of res.body as AsyncIterable<Buffer>) {
      chunks.push(c);
      size += c.length;
      if (size >= MAX_ERROR_BODY) break;
    }
  } catch {
    // The message is best effort: the status says enough.
  } finally {
    if (!res.body.readableEnded) res.body.destroy();
  }
  if (signal.aborted) throw signal.reason;
  const text = Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY).toString();
  let message = `HTTP ${res.statusCode}`;
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof parsed.error === 'object' && typeof parsed.error?.message === 'string') message = parsed.error.message;
    else if (typeof parsed.error === 'string') message = parsed.error;
    else if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    if (text.trim() !== '') message = text.trim().slice(0, 500);
  }
  const h = res.headers;
  const get = (name: string): string | null => {
    const v = h[name];
    return v === undefined ? null : Array.isArray(v) ? (v[0] ?? null) : v;
  };
  return new LlmError(kindOfStatus(res.statusCode), redact(message, secrets), res.statusCode, retryAfterMs({ get }));
}

/** The text deltas of a Chat Completions event stream, `outcome` filled as it goes. */
async function* deltas(
  body: Dispatcher.ResponseData['body'],
  outcome: LlmOutcome,
  signal: AbortSignal,
  secrets: readonly string[],
  count: ((n: number) => void) | undefined,
): AsyncGenerator<string> {
  const ready: string[] = [];
  let done = false;
  // A failure in the middle of a read comes after the deltas before it in that read.
  let failure: Error | undefined;
  const parser = new SseParser((_type, data) => {
    if (done) return;
    if (data === '[DONE]') {
      done = true;
      return;
    }
    let chunk: ChatChunk;
    try {
      chunk = JSON.parse(data) as ChatChunk;
    } catch {
      throw new LlmError('stream', 'the provider sent an event that is not JSON');
    }
    if (chunk === null || typeof chunk !== 'object') throw new LlmError('stream', 'the provider sent an event that is not a JSON object');
    if (chunk.error !== undefined) {
      const m = typeof chunk.error === 'string' ? chunk.error : typeof chunk.error?.message === 'string' ? chunk.error.message : 'stream error';
      throw new LlmError('stream', redact(m, secrets));
    }
    if (typeof chunk.model === 'string') outcome.model = chunk.model;
    if (chunk.usage) {
      outcome.inputTokens = chunk.usage.prompt_tokens;
      outcome.outputTokens = chunk.usage.completion_tokens;
    }
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (choice === undefined || choice === null) return;
    if (choice.finish_reason) outcome.finishReason = choice.finish_reason;
    const text = choice.delta?.content;
    if (typeof text === 'string' && text.length > 0) ready.push(text);
  });
  try {
    for await (const bytes of body as AsyncIterable<Buffer>) {
      count?.(bytes.length);
      try {
        parser.feed(bytes);
      } catch (err) {
        failure = err as Error;
      }
      if (ready.length > 0) {
        for (let i = 0; i < ready.length; i++) yield ready[i]!;
        ready.length = 0;
      }
      if (failure !== undefined) throw failure;
      if (done) return;
    }
    parser.end();
    for (const t of ready) yield t;
    // [DONE] or a finish reason: anything else is a stream cut short.
    if (!done && outcome.finishReason === undefined) throw new LlmError('stream', 'the provider ended the stream before the model finished');
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    if (err instanceof LlmError) throw err;
    if (err instanceof SseTooLargeError) throw new LlmError('stream', err.message);
    throw new LlmError('connection', redact(`the provider's connection failed mid-stream: ${(err as Error).message}`, secrets));
  } finally {
    // Ended early (cancelled, failed, or [DONE] before the body's end): the
    // connection is closed, not returned to the pool half read.
    if (!body.readableEnded) body.destroy();
  }
}
