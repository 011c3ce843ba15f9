import { McpRouter, McpWsServer } from 'mcp-ws';

const router = new McpRouter({ name: 'greeter', version: '1.0.0', inputTimeoutMs: 120_000 });
router.tool({ name: 'greet', description: 'Greets the user by name' }, async (_args, ctx) => {
  const { name } = await ctx.requireInput({
    name: {
      method: 'elicitation/create',
      params: { message: 'Your name?', requestedSchema: { type: 'object', properties: { name: { type: 'string' } } } },
    },
  });
  const answer = name as { action: string; content?: { name?: string } };
  return answer.action === 'accept' ? `Hello, ${answer.content?.name ?? 'stranger'}!` : 'Hello!';
});

const server = new McpWsServer({ handler: router, port: 0 });
console.log(`serving on ${(await server.listen()).url}`);
process.on('SIGTERM', () => void server.close()); // open subscriptions/listen end gracefully first
