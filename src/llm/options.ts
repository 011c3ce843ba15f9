/**
 * The `llm` section of the config file and the options of the streaming
 * relay, declared once (option-set.ts): their defaults, the zod fields of
 * the config file and the checks. Where the key comes from is resolved here
 * too: a file named in the config, an environment variable named in the
 * config, or the variable the official SDK reads (OPENAI_API_KEY,
 * ANTHROPIC_API_KEY). The key is read once and never logged.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { defineOptions, int, type OptionValues } from '../config/option-set.js';

/** Providers `mcp-ws serve --llm` and `llm.provider` accept. `openai` is Chat Completions. */
export const LLM_PROVIDERS = ['openai', 'openai-responses', 'anthropic', 'openai-compatible'] as const;
export type LlmProviderName = (typeof LLM_PROVIDERS)[number];

/** The relay's and the tool's tunables, with their defaults and ranges. */
export const LLM_OPTIONS = defineOptions({
  /** Deltas held per stream while the client is not reading; at the bound the provider's body is not read. */
  bufferSize: int({ min: 1, max: 65_536, default: 64 }),
  /** Most characters per notification when held deltas are coalesced. */
  chunkSize: int({ min: 1, max: 1_048_576, default: 1024 }),
  /** Longest wait for the first text delta (ms, 0: none), retries included per attempt. */
  firstTokenTimeoutMs: int({ min: 0, default: 60_000 }),
  /** Longest gap between text deltas (ms, 0: none). */
  idleTimeoutMs: int({ min: 0, default: 30_000 }),
  /** Streams open at once on this server; more are refused. */
  maxConcurrentStreams: int({ min: 1, default: 256 }),
  /** Streams open at once per identity (authenticated subject, else client IP); 0: no per-identity limit. */
  maxStreamsPerIdentity: int({ min: 0, default: 16 }),
  /** Tries again after a failure before the first token (429, 5xx, overload, dropped connection). */
  maxRetries: int({ min: 0, max: 10, default: 2 }),
  /** max tokens of a request that gives none. */
  maxTokens: int({ min: 1, max: 1_000_000, default: 1024 }),
});
export type LlmOptions = OptionValues<typeof LLM_OPTIONS.specs>;

/** The `llm` section of the config file. */
export const llmConfigSchema = z.strictObject({
  provider: z.enum(LLM_PROVIDERS),
  /** Default model; openai-compatible has none of its own. */
  model: z.string().min(1).max(200).optional(),
  /** Base URL of the API (…/v1 for OpenAI-compatible servers). Default: the SDK's (or OPENAI_BASE_URL / ANTHROPIC_BASE_URL). */
  baseURL: z.url().optional(),
  /**
   * How an openai-compatible stream is read: 'lean' (default: undici and
   * our own SSE parser, the least CPU per token) or 'sdk' (the openai
   * package). The other providers always use their official SDK.
   */
  client: z.enum(['lean', 'sdk']).optional(),
  /** Name of the environment variable holding the key. */
  apiKeyEnv: z.string().min(1).optional(),
  /** File holding the key (its first line). */
  apiKeyFile: z.string().min(1).optional(),
  ...LLM_OPTIONS.shape,
});
export type LlmConfig = z.infer<typeof llmConfigSchema>;

/** The model a provider uses when neither the config nor the request names one. */
export const DEFAULT_MODELS: Readonly<Record<LlmProviderName, string | undefined>> = {
  openai: 'gpt-4o-mini',
  'openai-responses': 'gpt-4o-mini',
  anthropic: 'claude-3-5-haiku-latest',
  'openai-compatible': undefined,
};

/** The resolved `llm` settings: provider, model, endpoint and key, and every option. */
export interface ResolvedLlmConfig extends LlmOptions {
  readonly provider: LlmProviderName;
  readonly model: string;
  readonly baseURL: string | undefined;
  /** Undefined only for openai-compatible without a key. */
  readonly apiKey: string | undefined;
  /** How the stream is read: 'lean' only for openai-compatible. */
  readonly client: 'lean' | 'sdk';
}

/**
 * Resolves the `llm` section: options checked, the key read (apiKeyFile,
 * else $apiKeyEnv, else the SDK's variable), the base URL (baseURL, else
 * the SDK's variable). Throws an Error with a one-line message naming the
 * setting, never the key.
 */
export function resolveLlmConfig(config: LlmConfig, env: NodeJS.ProcessEnv = process.env): ResolvedLlmConfig {
  const options = LLM_OPTIONS.resolve(config, 'llm.');
  const anthropic = config.provider === 'anthropic';
  const model = config.model ?? DEFAULT_MODELS[config.provider];
  if (model === undefined) throw new Error(`llm.model is required for the ${config.provider} provider (the model name the server knows, e.g. llama3.2)`);
  let apiKey: string | undefined;
  if (config.apiKeyFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(config.apiKeyFile, 'utf8');
    } catch (err) {
      throw new Error(`llm.apiKeyFile: cannot read ${config.apiKeyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    apiKey = text.split(/\r?\n/)[0]!.trim();
    if (apiKey === '') throw new Error(`llm.apiKeyFile: ${config.apiKeyFile} is empty`);
  } else if (config.apiKeyEnv !== undefined) {
    apiKey = env[config.apiKeyEnv];
    if (apiKey === undefined || apiKey === '') throw new Error(`llm.apiKeyEnv: the environment variable ${config.apiKeyEnv} is not set`);
  } else {
    const name = anthropic ? 'ANTHROPIC_API_KEY' : 'OPENAI_API_KEY';
    apiKey = env[name] === '' ? undefined : env[name];
    if (apiKey === undefined && config.provider !== 'openai-compatible') {
      throw new Error(`the ${config.provider} LLM provider needs a key: set ${name}, or llm.apiKeyEnv / llm.apiKeyFile in the config`);
    }
  }
  const envBase = anthropic ? env.ANTHROPIC_BASE_URL : env.OPENAI_BASE_URL;
  const baseURL = config.baseURL ?? (envBase === '' ? undefined : envBase);
  if (config.provider === 'openai-compatible' && baseURL === undefined) {
    throw new Error('llm.baseURL is required for the openai-compatible provider (e.g. http://127.0.0.1:11434/v1 for Ollama), or set OPENAI_BASE_URL');
  }
  if (config.client === 'lean' && config.provider !== 'openai-compatible') {
    throw new Error(`llm.client "lean" applies to the openai-compatible provider only; ${config.provider} streams through its official SDK`);
  }
  const client = config.client ?? (config.provider === 'openai-compatible' ? 'lean' : 'sdk');
  return { ...options, provider: config.provider, model, baseURL, apiKey, client };
}
