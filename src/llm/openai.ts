/**
 * OpenAI providers, through the official `openai` package (major 6, Node 20),
 * imported on first use:
 *
 *   openai-chat        POST /chat/completions, stream: true (usage asked for
 *                      with stream_options.include_usage)
 *   openai-responses   POST /responses, stream: true (response.output_text.delta …
 *                      response.completed)
 *   openai-compatible  Chat Completions against any base URL (Ollama, vLLM,
 *                      llama.cpp server, LM Studio); a key is optional
 *
 * The SDK's own retries are off (maxRetries 0): the relay retries, only
 * before the first delta. Every request goes through {@link countingFetch},
 * which counts the response body's bytes without reading ahead of the SDK.
 */
import { LlmError, toLlmError, type LlmOutcome, type LlmProvider, type LlmRequest } from './provider.js';

/** What an OpenAI-family provider is made from. */
export interface OpenAiProviderConfig {
  readonly kind: 'openai-chat' | 'openai-responses' | 'openai-compatible';
  readonly model: string;
  /** Resolved key; undefined lets the SDK read OPENAI_API_KEY (openai-compatible sends none). */
  readonly apiKey?: string;
  /** Resolved base URL; undefined lets the SDK read OPENAI_BASE_URL. */
  readonly baseURL?: string;
  /** Default max tokens when a request gives none. */
  readonly maxTokens: number;
  /** Called with the size of each piece of response body read. */
  readonly onUpstreamBytes?: (n: number) => void;
}

/**
 * A fetch whose response bodies report their size as they are read. The
 * wrapper pulls from the real body only when its reader asks
 * (highWaterMark 0), so backpressure passes through unchanged.
 */
export function countingFetch(count: ((n: number) => void) | undefined): typeof fetch {
  if (count === undefined) return (input, init) => fetch(input, init);
  return async (input, init) => {
    const res = await fetch(input, init);
    if (res.body === null) return res;
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const r = await reader.read();
          if (r.done) controller.close();
          else {
            count(r.value.byteLength);
            controller.enqueue(r.value);
          }
        },
        cancel(reason) {
          return reader.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

type OpenAiModule = typeof import('openai');
let openaiModule: Promise<OpenAiModule> | undefined;

/** Imports `openai` once; a clear error when it is not installed. */
function loadOpenAi(): Promise<OpenAiModule> {
  openaiModule ??= import('openai').catch((err: unknown) => {
    openaiModule = undefined;
    throw new Error(`the openai package is needed for this LLM provider: npm install openai@6 (${(err as Error).message})`);
  });
  return openaiModule;
}

/** Chunk of a Chat Completions stream, the fields read here. */
interface ChatChunk {
  model?: string;
  choices?: Array<{ delta?: { content?: string | null }; finish_reason?: string | null }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
}

/** Event of a Responses stream, the fields read here. */
interface ResponsesEvent {
  type?: string;
  delta?: string;
  message?: string;
  response?: {
    model?: string;
    status?: string;
    incomplete_details?: { reason?: string } | null;
    error?: { message?: string } | null;
    usage?: { input_tokens?: number; output_tokens?: number } | null;
  };
}

/** Makes an OpenAI-family provider; the SDK client is made on the first stream. */
export function createOpenAiProvider(config: OpenAiProviderConfig): LlmProvider {
  const secrets = config.apiKey !== undefined ? [config.apiKey] : [];
  let client: Promise<InstanceType<OpenAiModule['OpenAI']>> | undefined;
  const getClient = (): Promise<InstanceType<OpenAiModule['OpenAI']>> =>
    (client ??= loadOpenAi().then(({ OpenAI }) => {
      const key = config.apiKey ?? (config.kind === 'openai-compatible' ? 'not-needed' : undefined);
      return new OpenAI({
        ...(key !== undefined ? { apiKey: key } : {}),
        ...(config.baseURL !== undefined ? { baseURL: config.baseURL } : {}),
        maxRetries: 0,
        fetch: countingFetch(config.onUpstreamBytes),
      });
    }));

  const chat = async (request: LlmRequest, outcome: LlmOutcome, signal: AbortSignal): Promise<AsyncIterable<string>> => {
    const openai = await getClient();
    const messages: Array<{ role: 'system' | 'user'; content: string }> = [];
    if (request.system !== undefined) messages.push({ role: 'system', content: request.system });
    messages.push({ role: 'user', content: request.prompt });
    const stream = await openai.chat.completions.create(
      {
        model: request.model ?? config.model,
        messages,
        max_completion_tokens: request.maxTokens ?? config.maxTokens,
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
        stream: true,
        stream_options: { include_usage: true },
      },
      { signal },
    );
    return (async function* (): AsyncGenerator<string> {
      for await (const chunk of stream as AsyncIterable<ChatChunk>) {
        if (chunk.model !== undefined) outcome.model = chunk.model;
        if (chunk.usage) {
          outcome.inputTokens = chunk.usage.prompt_tokens;
          outcome.outputTokens = chunk.usage.completion_tokens;
        }
        const choice = chunk.choices?.[0];
        if (choice === undefined) continue;
        if (choice.finish_reason) outcome.finishReason = choice.finish_reason;
        const text = choice.delta?.content;
        if (typeof text === 'string' && text.length > 0) yield text;
      }
    })();
  };

  const responses = async (request: LlmRequest, outcome: LlmOutcome, signal: AbortSignal): Promise<AsyncIterable<string>> => {
    const openai = await getClient();
    const stream = await openai.responses.create(
      {
        model: request.model ?? config.model,
        input: request.prompt,
        ...(request.system !== undefined ? { instructions: request.system } : {}),
        max_output_tokens: request.maxTokens ?? config.maxTokens,
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
        stream: true,
      },
      { signal },
    );
    return (async function* (): AsyncGenerator<string> {
      for await (const event of stream as AsyncIterable<ResponsesEvent>) {
        switch (event.type) {
          case 'response.output_text.delta':
            if (typeof event.delta === 'string' && event.delta.length > 0) yield event.delta;
            break;
          case 'response.created':
            if (event.response?.model !== undefined) outcome.model = event.response.model;
            break;
          case 'response.completed':
          case 'response.incomplete': {
            const r = event.response;
            if (r?.model !== undefined) outcome.model = r.model;
            outcome.finishReason = r?.incomplete_details?.reason ?? r?.status ?? (event.type === 'response.completed' ? 'completed' : 'incomplete');
            outcome.inputTokens = r?.usage?.input_tokens;
            outcome.outputTokens = r?.usage?.output_tokens;
            break;
          }
          case 'response.failed':
            throw new LlmError('stream', redactLocal(event.response?.error?.message ?? 'the response failed', secrets));
          case 'error':
            throw new LlmError('stream', redactLocal(event.message ?? 'stream error', secrets));
          default:
            break;
        }
      }
    })();
  };

  const open = config.kind === 'openai-responses' ? responses : chat;
  return {
    kind: config.kind,
    model: config.model,
    async stream(request, outcome, signal) {
      try {
        const inner = await open(request, outcome, signal);
        return mapErrors(inner, secrets);
      } catch (err) {
        throw toLlmError(err, secrets);
      }
    },
  };
}

function redactLocal(message: string, secrets: readonly string[]): string {
  return toLlmError(new Error(message), secrets).message;
}

/** The same deltas, any failure while reading turned into a key-free LlmError. */
export async function* mapErrors(inner: AsyncIterable<string>, secrets: readonly string[]): AsyncGenerator<string> {
  try {
    yield* inner;
  } catch (err) {
    throw toLlmError(err, secrets);
  }
}
