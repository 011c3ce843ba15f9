import { McpServer } from '@modelcontextprotocol/server';
import { McpWsServer, SdkHost } from 'mcp-ws';
import { z } from 'zod';
const host = new SdkHost(({ identity }) => {
    const server = new McpServer({ name: 'notes', version: '2.0.0' });
    server.registerTool('whoami', { inputSchema: z.object({}) }, async () => ({
        content: [{ type: 'text', text: identity?.subject ?? 'anonymous' }],
    }));
    return server;
});
const server = new McpWsServer({ handler: host, port: 0 });
console.log(`serving on ${(await server.listen()).url}`);
process.on('SIGTERM', () => void server.close());
