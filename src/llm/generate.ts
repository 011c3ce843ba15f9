/**
 * LlmService: one provider, the relay's options, the stream slots and the
 * metrics of one server. It gives router tools two calls — `generate(ctx,
 * request)` (stream to the client, resolve with the text and what the
 * provider reported) and `toolResult(ctx, request)` (the same as a
 * CallToolResult, provider failures as `isError`) — and registers the
 * `llm_generate` tool.
 *
 * Slots: `maxConcurrentStreams` on the server and `maxStreamsPerIdentity`
 * per identity (the authenticated subject, else the client's IP), taken
 * before the provider is called and given back when the stream ends
 * however it ends. A refusal is a tool result with `isError` (kind busy).
 *
 * Retries: only before the first token (relayStream's rule), at most
 * `maxRetries`, for rate limits, overload, 5xx and dropped connections;
 * the provider's Retry-After is honoured (up to MAX_RETRY_AFTER_MS; asking
 * for longer fails the call), else 250 ms doubling with jitter.
 */
import type { McpRouter } from '../router/router.js';
import type { Identity } from '../server/handler.js';
import { relayStream, StreamTimeoutError, type StreamTarget } from '../router/stream.js';
import type { CallToolResult } from '../router/types.js';
import { LlmMetrics } from './metrics.js';
import { createAnthropicProvider } from './anthropic.js';
import { createOpenAiProvider } from './openai.js';
import { createLeanChatProvider } from './chat-sse.js';
import { LLM_OPTIONS, type LlmOptions, type ResolvedLlmConfig } from './options.js';
import { LlmError, MAX_RETRY_AFTER_MS, type LlmOutcome, type LlmProvider, type LlmRequest } from './provider.js';

/**
 * The request a stream serves: a router tool's RequestContext, or
 * sdkStreamTarget(extra) in an SDK-hosted server (whose streams then count
 * against one shared per-identity budget unless identity/remoteAddress are given).
 */
export type LlmStreamTarget = StreamTarget & { readonly identity?: Identity | undefined; readonly remoteAddress?: string };

/** A finished generation. */
export interface LlmGeneration extends LlmOutcome {
  readonly text: string;
  /** Text deltas relayed. */
  readonly deltas: number;
}

/** Longest prompt or system text the tool accepts, characters. */
export const MAX_PROMPT_CHARS = 200_000;

/** Backoff before retry `attempt` (0-based) when the provider named no Retry-After: 250 ms doubling, ±25 %. */
function backoffMs(attempt: number): number {
  const base = 250 * 2 ** attempt;
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** Streams of one server: a provider, options, slots and metrics. */
export class LlmService {
  readonly options: LlmOptions;
  private active = 0;
  private readonly perIdentity = new Map<string, number>();

  constructor(
    readonly provider: LlmProvider,
    options: Partial<LlmOptions> = {},
    readonly metrics: LlmMetrics = new LlmMetrics(),
  ) {
    this.options = LLM_OPTIONS.resolve(options);
  }

  /** Streams open now. */
  get activeStreams(): number {
    return this.active;
  }

  /**
   * Streams one generation to the client of `ctx` (relayStream: progress
   * notifications or partial results, flow control, cancellation) and
   * resolves with the whole text and what the provider reported. Rejects
   * with an {@link LlmError} (its message free of the key; kind `busy` when
   * no slot is free), or the cancellation error when the client cancelled
   * or went away.
   */
  async generate(ctx: LlmStreamTarget, request: LlmRequest): Promise<LlmGeneration> {
    const o = this.options;
    const m = this.metrics;
    const who = ctx.identity?.subject !== undefined ? `sub:${ctx.identity.subject}` : `ip:${ctx.remoteAddress ?? ''}`;
    const mine = this.perIdentity.get(who) ?? 0;
    if (this.active >= o.maxConcurrentStreams) {
      m.errors.busy++;
      throw new LlmError('busy', `too many LLM streams open on this server (maxConcurrentStreams ${o.maxConcurrentStreams}); try again later`);
    }
    if (o.maxStreamsPerIdentity > 0 && mine >= o.maxStreamsPerIdentity) {
      m.errors.busy++;
      throw new LlmError('busy', `too many LLM streams open for this client (maxStreamsPerIdentity ${o.maxStreamsPerIdentity}); try again later`);
    }
    this.active++;
    this.perIdentity.set(who, mine + 1);
    m.streamsActive++;
    m.streamsStarted++;
    const started = performance.now();
    const outcome: LlmOutcome = { model: undefined, finishReason: undefined, inputTokens: undefined, outputTokens: undefined };
    const provider = this.provider;
    try {
      const r = await relayStream(ctx, (signal) => provider.stream(request, outcome, signal), {
        bufferSize: o.bufferSize,
        chunkSize: o.chunkSize,
        firstDeltaTimeoutMs: o.firstTokenTimeoutMs,
        idleTimeoutMs: o.idleTimeoutMs,
        onPause: () => void m.paused++,
        retry: (err, attempt) => {
          if (attempt >= o.maxRetries || !(err instanceof LlmError) || !err.retryable) return undefined;
          if (err.retryAfterMs !== undefined && err.retryAfterMs > MAX_RETRY_AFTER_MS) return undefined;
          m.retries++;
          return err.retryAfterMs ?? backoffMs(attempt);
        },
      });
      if (r.firstDeltaMs !== undefined) m.timeToFirstToken.observe(r.firstDeltaMs / 1000);
      m.deltasRelayed += r.deltas;
      if (outcome.outputTokens !== undefined) m.outputTokens += outcome.outputTokens;
      return { ...outcome, model: outcome.model ?? request.model ?? provider.model, text: r.text, deltas: r.deltas };
    } catch (err) {
      if (ctx.cancelled) {
        m.cancelled++;
        throw err;
      }
      if (err instanceof StreamTimeoutError) {
        const kind = err.kind === 'first_delta' ? 'first_token_timeout' : 'idle_timeout';
        m.errors[kind]++;
        throw new LlmError(kind, err.kind === 'first_delta' ? `the provider sent no text within ${err.timeoutMs} ms` : `the provider sent nothing for ${err.timeoutMs} ms`);
      }
      if (err instanceof LlmError) {
        m.errors[err.kind]++;
        throw err;
      }
      m.errors.internal++;
      throw err;
    } finally {
      this.active--;
      const n = this.perIdentity.get(who)! - 1;
      if (n === 0) this.perIdentity.delete(who);
      else this.perIdentity.set(who, n);
      m.streamsActive--;
      m.streamDuration.observe((performance.now() - started) / 1000);
    }
  }

  /**
   * {@link generate} as a tool result: the whole text, with
   * `structuredContent` {model, finishReason, usage}; a provider failure
   * (or a refusal for want of a slot) as `isError` with the provider's
   * message, never the key.
   */
  async toolResult(ctx: LlmStreamTarget, request: LlmRequest): Promise<CallToolResult> {
    try {
      const g = await this.generate(ctx, request);
      const structured: Record<string, unknown> = { model: g.model, text: g.text };
      if (g.finishReason !== undefined) structured.finishReason = g.finishReason;
      const usage: Record<string, number> = {};
      if (g.inputTokens !== undefined) usage.inputTokens = g.inputTokens;
      if (g.outputTokens !== undefined) usage.outputTokens = g.outputTokens;
      structured.usage = usage;
      return { content: [{ type: 'text', text: g.text }], structuredContent: structured };
    } catch (err) {
      if (!(err instanceof LlmError)) throw err;
      const status = err.status !== undefined ? `, HTTP ${err.status}` : '';
      return { content: [{ type: 'text', text: `LLM provider error (${err.kind}${status}): ${err.message}` }], isError: true };
    }
  }

  /** Registers the `llm_generate` tool on `router`. */
  register(router: McpRouter, name = 'llm_generate'): void {
    const max = this.options.maxTokens;
    router.tool(
      {
        name,
        title: 'Generate text',
        description: `Generates text with ${this.provider.kind} (default model ${this.provider.model}), streamed as it is written: progress notifications carry each piece when the request has a progressToken.`,
        inputSchema: {
          type: 'object',
          properties: {
            prompt: { type: 'string', minLength: 1, maxLength: MAX_PROMPT_CHARS },
            system: { type: 'string', maxLength: MAX_PROMPT_CHARS },
            model: { type: 'string', pattern: '^[A-Za-z0-9._:/@-]{1,200}$' },
            maxTokens: { type: 'integer', minimum: 1, maximum: max },
            temperature: { type: 'number', minimum: 0, maximum: 2 },
          },
          required: ['prompt'],
          additionalProperties: false,
        },
        outputSchema: {
          type: 'object',
          properties: {
            model: { type: 'string' },
            text: { type: 'string' },
            finishReason: { type: 'string' },
            usage: { type: 'object', properties: { inputTokens: { type: 'integer' }, outputTokens: { type: 'integer' } } },
          },
          required: ['model', 'text', 'usage'],
        },
        annotations: { readOnlyHint: true, openWorldHint: true },
      },
      (args, ctx) =>
        this.toolResult(ctx, {
          prompt: args.prompt as string,
          ...(typeof args.system === 'string' ? { system: args.system } : {}),
          ...(typeof args.model === 'string' ? { model: args.model } : {}),
          ...(typeof args.maxTokens === 'number' ? { maxTokens: args.maxTokens } : {}),
          ...(typeof args.temperature === 'number' ? { temperature: args.temperature } : {}),
        }),
    );
  }
}

/** Makes the provider a resolved `llm` config names, its upstream bytes counted in `metrics`. */
export function createProvider(config: ResolvedLlmConfig, metrics?: LlmMetrics): LlmProvider {
  const onUpstreamBytes = metrics === undefined ? undefined : (n: number): void => void (metrics.upstreamBytes += n);
  const common = {
    model: config.model,
    maxTokens: config.maxTokens,
    ...(config.apiKey !== undefined ? { apiKey: config.apiKey } : {}),
    ...(config.baseURL !== undefined ? { baseURL: config.baseURL } : {}),
    ...(onUpstreamBytes !== undefined ? { onUpstreamBytes } : {}),
  };
  switch (config.provider) {
    case 'anthropic':
      return createAnthropicProvider(common);
    case 'openai-responses':
      return createOpenAiProvider({ ...common, kind: 'openai-responses' });
    case 'openai-compatible':
      // resolveLlmConfig requires a base URL for this provider.
      if (config.client === 'lean' && config.baseURL !== undefined) return createLeanChatProvider({ ...common, baseURL: config.baseURL });
      return createOpenAiProvider({ ...common, kind: 'openai-compatible' });
    default:
      return createOpenAiProvider({ ...common, kind: 'openai-chat' });
  }
}

/** A service for a resolved `llm` config: its provider, options and fresh metrics. */
export function createLlmService(config: ResolvedLlmConfig): LlmService {
  const metrics = new LlmMetrics();
  const { provider: _p, model: _m, baseURL: _b, apiKey: _k, client: _c, ...options } = config;
  return new LlmService(createProvider(config, metrics), options, metrics);
}
