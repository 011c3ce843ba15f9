import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { McpWsServer, SdkHost } from 'mcp-ws';
import { z } from 'zod';

const host = new SdkHost(({ sessionId }) => {
  const server = new McpServer({ name: 'notes', version: '1.0.0' });
  server.registerTool('add_note', { inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text: `saved ${text} in ${sessionId}` }],
  }));
  return server; // one per connection
});
const server = new McpWsServer({ handler: host, port: 0 });
console.log(`serving on ${(await server.listen()).url}`);
process.on('SIGTERM', () => void server.close());
