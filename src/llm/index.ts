/**
 * LLM streaming: provider token streams relayed to MCP clients, with
 * backpressure and cancellation.
 *
 * Module shape:
 *
 *   provider.ts   LlmProvider — the one interface: stream(request, outcome,
 *                 signal) → AsyncIterable<string> of text deltas; LlmError
 *                 (kind, status, Retry-After) and the mapping of SDK errors
 *                 to it with every credential removed (redact)
 *   openai.ts     openai-chat (Chat Completions), openai-responses
 *                 (Responses), openai-compatible (Chat Completions at any
 *                 base URL: Ollama, vLLM, llama.cpp server, LM Studio),
 *                 through the `openai` package, imported on first use;
 *                 countingFetch counts body bytes without reading ahead
 *   chat-sse.ts   the lean openai-compatible stream: undici's request and
 *                 our SSE parser (sse.ts, one event bounded at 1 MiB), the
 *                 default for openai-compatible (llm.client 'lean')
 *   anthropic.ts  Messages streaming through `@anthropic-ai/sdk`, imported
 *                 on first use
 *   options.ts    the `llm` config section and LLM_OPTIONS (bufferSize,
 *                 chunkSize, timeouts, slots, retries), key and base URL
 *                 resolution (file, named variable, the SDK's variable)
 *   generate.ts   LlmService: slots per server and per identity, retries
 *                 only before the first token honouring Retry-After,
 *                 metrics, the `llm_generate` tool
 *   metrics.ts    LlmMetrics and their Prometheus families
 *
 * The relay itself is generic and lives with the router
 * (src/router/stream.ts, `relayStream(ctx, source, options)`): bounded
 * buffering (bufferSize deltas), coalescing of held deltas (chunkSize),
 * pause of the provider's body while the client's send queue is over the
 * server's cap (SessionPeer.congested / whenWritable), first-token and idle
 * timeouts, cancellation through one AbortSignal. Any router tool can
 * stream any async iterable of text with it; LlmService feeds it a
 * provider.
 *
 *   const llm = createLlmService(resolveLlmConfig({ provider: 'openai-compatible',
 *     baseURL: 'http://127.0.0.1:11434/v1', model: 'llama3.2' }));
 *   llm.register(router);                                  // the llm_generate tool
 *   router.tool({ name: 'haiku' }, (args, ctx) => llm.toolResult(ctx, { prompt: 'a haiku' }));
 *   new McpWsServer({ handler: router, metrics: llmMetrics(llm.metrics) });
 */
export { LlmError, LLM_ERROR_KINDS, redact, toLlmError, type LlmErrorKind, type LlmOutcome, type LlmProvider, type LlmRequest } from './provider.js';
export { createOpenAiProvider, type OpenAiProviderConfig } from './openai.js';
export { createAnthropicProvider, type AnthropicProviderConfig } from './anthropic.js';
export { createLeanChatProvider, type LeanChatProviderConfig } from './chat-sse.js';
export { LLM_OPTIONS, LLM_PROVIDERS, llmConfigSchema, resolveLlmConfig, type LlmConfig, type LlmOptions, type LlmProviderName, type ResolvedLlmConfig } from './options.js';
export { LlmService, createLlmService, createProvider, type LlmGeneration, type LlmStreamTarget } from './generate.js';
export { LlmMetrics, llmMetrics } from './metrics.js';
