import { McpRouter, McpWsServer, relayStream } from 'mcp-ws';

async function* countdown(signal: AbortSignal): AsyncGenerator<string> {
  for (let i = 3; i > 0 && !signal.aborted; i--) {
    await new Promise((r) => setTimeout(r, 100));
    yield `${i}… `;
  }
  yield 'liftoff';
}

const router = new McpRouter({ name: 'streams', version: '1.0.0' });
router.tool({ name: 'countdown', description: 'Counts down, streamed' }, async (_args, ctx) => {
  const r = await relayStream(ctx, (signal) => countdown(signal), { bufferSize: 16 });
  return r.text;
});
const server = new McpWsServer({ handler: router, port: 0 });
console.log(`serving on ${(await server.listen()).url}`);
process.on('SIGTERM', () => void server.close());
