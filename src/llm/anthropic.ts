/**
 * Anthropic Messages streaming, through the official `@anthropic-ai/sdk`
 * (runs on Node 20), imported on first use. Reads message_start (model,
 * input tokens), content_block_delta text_delta (the text), message_delta
 * (stop reason, output tokens); ping and the block start/stop events carry
 * nothing to relay. An `error` event mid-stream fails the stream with the
 * provider's message. The SDK's own retries are off: the relay retries,
 * only before the first delta.
 */
import { countingFetch, mapErrors } from './openai.js';
import { toLlmError, type LlmOutcome, type LlmProvider, type LlmRequest } from './provider.js';

/** What the Anthropic provider is made from. */
export interface AnthropicProviderConfig {
  readonly model: string;
  /** Resolved key; undefined lets the SDK read ANTHROPIC_API_KEY. */
  readonly apiKey?: string;
  /** Resolved base URL; undefined lets the SDK read ANTHROPIC_BASE_URL. */
  readonly baseURL?: string;
  readonly maxTokens: number;
  readonly onUpstreamBytes?: (n: number) => void;
}

type AnthropicModule = typeof import('@anthropic-ai/sdk');
let anthropicModule: Promise<AnthropicModule> | undefined;

function loadAnthropic(): Promise<AnthropicModule> {
  anthropicModule ??= import('@anthropic-ai/sdk').catch((err: unknown) => {
    anthropicModule = undefined;
    throw new Error(`the @anthropic-ai/sdk package is needed for the anthropic LLM provider: npm install @anthropic-ai/sdk@1 (${(err as Error).message})`);
  });
  return anthropicModule;
}

/** An event of a Messages stream, the fields read here. */
interface MessageEvent {
  type?: string;
  message?: { model?: string; usage?: { input_tokens?: number; output_tokens?: number } };
  delta?: { type?: string; text?: string; stop_reason?: string | null };
  usage?: { output_tokens?: number; input_tokens?: number | null };
}

/** Makes the Anthropic provider; the SDK client is made on the first stream. */
export function createAnthropicProvider(config: AnthropicProviderConfig): LlmProvider {
  const secrets = config.apiKey !== undefined ? [config.apiKey] : [];
  let client: Promise<InstanceType<AnthropicModule['Anthropic']>> | undefined;
  const getClient = (): Promise<InstanceType<AnthropicModule['Anthropic']>> =>
    (client ??= loadAnthropic().then(({ Anthropic }) => {
      return new Anthropic({
        ...(config.apiKey !== undefined ? { apiKey: config.apiKey } : {}),
        ...(config.baseURL !== undefined ? { baseURL: config.baseURL } : {}),
        maxRetries: 0,
        fetch: countingFetch(config.onUpstreamBytes),
      });
    }));

  const open = async (request: LlmRequest, outcome: LlmOutcome, signal: AbortSignal): Promise<AsyncIterable<string>> => {
    const anthropic = await getClient();
    const stream = await anthropic.messages.create(
      {
        model: request.model ?? config.model,
        max_tokens: request.maxTokens ?? config.maxTokens,
        messages: [{ role: 'user', content: request.prompt }],
        ...(request.system !== undefined ? { system: request.system } : {}),
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
        stream: true,
      },
      { signal },
    );
    return (async function* (): AsyncGenerator<string> {
      for await (const event of stream as AsyncIterable<MessageEvent>) {
        switch (event.type) {
          case 'content_block_delta':
            if (event.delta?.type === 'text_delta' && typeof event.delta.text === 'string' && event.delta.text.length > 0) yield event.delta.text;
            break;
          case 'message_start':
            outcome.model = event.message?.model;
            outcome.inputTokens = event.message?.usage?.input_tokens;
            outcome.outputTokens = event.message?.usage?.output_tokens;
            break;
          case 'message_delta':
            if (event.delta?.stop_reason) outcome.finishReason = event.delta.stop_reason;
            if (typeof event.usage?.output_tokens === 'number') outcome.outputTokens = event.usage.output_tokens;
            if (typeof event.usage?.input_tokens === 'number') outcome.inputTokens = event.usage.input_tokens;
            break;
          default:
            break;
        }
      }
    })();
  };

  return {
    kind: 'anthropic',
    model: config.model,
    async stream(request, outcome, signal) {
      try {
        return mapErrors(await open(request, outcome, signal), secrets);
      } catch (err) {
        throw toLlmError(err, secrets);
      }
    },
  };
}
