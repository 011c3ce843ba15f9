/**
 * The embedded default of `mcp-ws serve`: a router with six tools, two
 * resources (one a counter shared through the backplane when there is
 * one), one resource template and one prompt. Small on purpose: it is
 * what the benchmarks and the quick start talk to.
 */
import { McpRouter } from '../router/router.js';
import { RpcError } from '../protocol/errors.js';
import { INVALID_PARAMS } from '../protocol/jsonrpc.js';
import { relayStream } from '../router/stream.js';
import { ToolError } from '../router/types.js';
import { memoryCounter, type DemoCounter } from './counter.js';

/** Longest `sleep` the demo accepts, so a client cannot park a request for hours. */
export const MAX_SLEEP_MS = 60_000;

/** Largest step of `increment`, either way: the counter stays a safe integer for a long time. */
export const MAX_INCREMENT = 1_000_000;

/** The URI of the demo's shared counter. */
export const COUNTER_URI = 'demo://counter';

/** Options of {@link createDemoRouter}. */
export interface DemoRouterOptions {
  /** Where `demo://counter` lives. Default: in memory (this process only). */
  counter?: DemoCounter;
}

/** Longest text `stream_text` accepts, characters. */
export const MAX_STREAM_TEXT = 100_000;

/**
 * The words of `text` (each with the whitespace before it), one every
 * 1000 / wordsPerSecond ms; stops when `signal` aborts.
 */
async function* words(text: string, wordsPerSecond: number, signal: AbortSignal): AsyncGenerator<string> {
  const interval = 1000 / wordsPerSecond;
  const start = performance.now();
  let i = 0;
  for (const m of text.matchAll(/\s*\S+/g)) {
    const due = start + i++ * interval - performance.now();
    if (due > 1) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, due);
        function done(): void {
          signal.removeEventListener('abort', done);
          clearTimeout(t);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
    if (signal.aborted) return;
    yield m[0];
  }
}

/** Builds the demo router. */
export function createDemoRouter(options: DemoRouterOptions = {}): McpRouter {
  const counter = options.counter ?? memoryCounter();
  const router = new McpRouter({
    name: 'mcp-ws-demo',
    version: '0.1.0',
    title: 'mcp-ws demo server',
    instructions:
      'Demo tools: echo {text}, add {a, b}, sleep {ms} (reports progress), ask {question} (asks the user), stream_text {text, wordsPerSecond} (streams the text word by word as progress), increment {by} (adds to demo://counter; subscribers are notified).',
  });

  router.tool(
    {
      name: 'echo',
      description: 'Returns the text it is given.',
      inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'], additionalProperties: false },
      annotations: { readOnlyHint: true, idempotentHint: true },
    },
    (args) => args.text as string,
  );

  router.tool(
    {
      name: 'add',
      description: 'Adds two numbers.',
      inputSchema: {
        type: 'object',
        properties: { a: { type: 'number' }, b: { type: 'number' } },
        required: ['a', 'b'],
        additionalProperties: false,
      },
      outputSchema: { type: 'object', properties: { sum: { type: 'number' } }, required: ['sum'] },
      annotations: { readOnlyHint: true, idempotentHint: true },
    },
    (args) => {
      const sum = (args.a as number) + (args.b as number);
      return { content: [{ type: 'text', text: String(sum) }], structuredContent: { sum } };
    },
  );

  router.tool(
    {
      name: 'sleep',
      description: `Waits ms milliseconds (at most ${MAX_SLEEP_MS}), reporting progress every tenth when asked; cancellable.`,
      inputSchema: {
        type: 'object',
        properties: { ms: { type: 'integer', minimum: 0, maximum: MAX_SLEEP_MS } },
        required: ['ms'],
        additionalProperties: false,
      },
      annotations: { readOnlyHint: true },
    },
    (args, ctx) =>
      new Promise<string>((resolve, reject) => {
        const ms = args.ms as number;
        const steps = 10;
        let step = 0;
        const signal = ctx.signal;
        const tick = (): void => {
          step++;
          ctx.progress(step, steps, `slept ${Math.round((ms * step) / steps)} of ${ms} ms`);
          if (step >= steps) {
            signal.removeEventListener('abort', onAbort);
            resolve(`slept ${ms} ms`);
          } else timer = setTimeout(tick, ms / steps);
        };
        const onAbort = (): void => {
          clearTimeout(timer);
          reject(new RpcError(-32800, 'Request cancelled'));
        };
        let timer = setTimeout(tick, ms / steps);
        signal.addEventListener('abort', onAbort, { once: true });
      }),
  );

  router.tool(
    {
      name: 'ask',
      description: 'Asks the user a question (elicitation) and returns the answer. Needs the elicitation client capability.',
      inputSchema: {
        type: 'object',
        properties: { question: { type: 'string', maxLength: 1000 } },
        required: ['question'],
        additionalProperties: false,
      },
    },
    async (args, ctx) => {
      // One call for both eras: 2026-07-28 answers input_required and reads the retry's
      // inputResponses; a legacy session sends elicitation/create and waits for the answer.
      const { answer } = await ctx.requireInput({
        answer: {
          method: 'elicitation/create',
          params: {
            mode: 'form',
            message: args.question as string,
            requestedSchema: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] },
          },
        },
      });
      const r = answer as { action?: unknown; content?: { answer?: unknown } } | null;
      if (r?.action !== 'accept') return `the user did not answer (${typeof r?.action === 'string' ? r.action.slice(0, 20) : 'no action'})`;
      return `the user answered: ${String(r.content?.answer).slice(0, 1000)}`;
    },
  );

  router.tool(
    {
      name: 'stream_text',
      description:
        'Streams the given text word by word, as an LLM streams tokens: each word reaches the client as notifications/progress (message) when the request has a progressToken; the result is the whole text. Cancellable.',
      inputSchema: {
        type: 'object',
        properties: {
          text: { type: 'string', maxLength: MAX_STREAM_TEXT },
          wordsPerSecond: { type: 'number', exclusiveMinimum: 0, maximum: 10_000 },
        },
        required: ['text'],
        additionalProperties: false,
      },
      annotations: { readOnlyHint: true, idempotentHint: true },
    },
    async (args, ctx) => {
      const rate = (args.wordsPerSecond as number | undefined) ?? 20;
      const r = await relayStream(ctx, (signal) => words(args.text as string, rate, signal));
      return r.text;
    },
  );

  router.tool(
    {
      name: 'increment',
      description: `Adds by (an integer from -${MAX_INCREMENT} to ${MAX_INCREMENT}, default 1) to the shared counter ${COUNTER_URI} and returns its new value; every subscriber of ${COUNTER_URI}, on any server sharing the backplane, is notified.`,
      inputSchema: {
        type: 'object',
        properties: { by: { type: 'integer', minimum: -MAX_INCREMENT, maximum: MAX_INCREMENT } },
        additionalProperties: false,
      },
      outputSchema: { type: 'object', properties: { value: { type: 'integer' } }, required: ['value'] },
    },
    async (args) => {
      let value: number;
      try {
        value = await counter.add((args.by as number | undefined) ?? 1);
      } catch (err) {
        throw new ToolError(`the counter is unavailable: ${(err as Error).message}`);
      }
      router.notifyResourceUpdated(COUNTER_URI);
      return { content: [{ type: 'text', text: String(value) }], structuredContent: { value } };
    },
  );

  router.resource(
    { uri: 'demo://readme', name: 'readme', title: 'About this server', mimeType: 'text/markdown' },
    () => '# mcp-ws demo\n\nThis server speaks MCP over WebSocket. Try the tools echo, add and sleep.\n',
  );

  router.resource({ uri: COUNTER_URI, name: 'counter', title: 'A counter shared by every server of the backplane', mimeType: 'text/plain' }, async () => {
    try {
      return String(await counter.get());
    } catch (err) {
      throw new RpcError(-32603, `the counter is unavailable: ${(err as Error).message}`);
    }
  });

  router.resourceTemplate(
    { uriTemplate: 'demo://greeting/{name}', name: 'greeting', mimeType: 'text/plain', description: 'A greeting for {name}.' },
    (_uri, vars) => `Hello, ${vars.name}!`,
  );

  router.prompt(
    {
      name: 'summarize',
      description: 'Asks the model to summarise a text.',
      arguments: [{ name: 'text', description: 'The text to summarise', required: true }],
    },
    (args) => {
      if (args.text!.length > 100_000) throw new RpcError(INVALID_PARAMS, 'text is longer than 100000 characters');
      return `Summarise the following text in three sentences:\n\n${args.text}`;
    },
  );

  return router;
}
