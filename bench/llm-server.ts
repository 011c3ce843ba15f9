/**
 * The server side of bench/llm.ts, in its own process so its CPU and memory
 * are its own: the native router with llm_generate (openai-compatible)
 * against the bench's fake provider, on 127.0.0.1:0, read by the `openai`
 * package (argv[3] 'sdk') or the lean path (argv[3] 'lean': undici and our
 * SSE parser). Prints its ws:// URL;
 * answers {type:'stats'} on the IPC channel with its CPU time, RSS and the
 * LLM metrics.
 */
import { McpRouter } from '../src/router/router.js';
import { McpWsServer } from '../src/server/server.js';
import { LlmService } from '../src/llm/generate.js';
import { LlmMetrics, llmMetrics } from '../src/llm/metrics.js';
import { createOpenAiProvider } from '../src/llm/openai.js';
import { createLeanChatProvider } from '../src/llm/chat-sse.js';

const baseURL = process.argv[2]!;
const path = process.argv[3] ?? 'lean';
const metrics = new LlmMetrics();
const common = { model: 'bench', baseURL, maxTokens: 1024, onUpstreamBytes: (n: number) => void (metrics.upstreamBytes += n) };
const provider = path === 'sdk' ? createOpenAiProvider({ ...common, kind: 'openai-compatible' }) : createLeanChatProvider(common);
const llm = new LlmService(provider, { maxConcurrentStreams: 5000, maxStreamsPerIdentity: 0, firstTokenTimeoutMs: 0, idleTimeoutMs: 0, maxRetries: 0 }, metrics);
const router = new McpRouter({ name: 'llm-bench', version: '1' });
llm.register(router);
const server = new McpWsServer({ handler: router, port: 0, processMetrics: false, heartbeatIntervalMs: 0, resumeGraceMs: 0, handshakeTimeoutMs: 120_000, metrics: llmMetrics(metrics) });
const { url } = await server.listen();
process.stdout.write(`${url}\n`);
process.on('message', (m: { type?: string }) => {
  if (m.type === 'stats') {
    const cpu = process.cpuUsage();
    process.send!({ cpuMicros: cpu.user + cpu.system, rss: process.memoryUsage().rss, deltas: metrics.deltasRelayed, active: metrics.streamsActive, paused: metrics.paused });
  } else if (m.type === 'exit') {
    void server.close().then(() => process.exit(0));
  }
});
