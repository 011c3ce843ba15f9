/**
 * The stdio MCP server the soak puts behind `mcp-ws gateway`: echo and add
 * (what the well-behaved clients call), pid (so the soak can kill the very
 * process serving a session) and boom (a tool that throws).
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'soak-upstream', version: '1.0.0' });
const text = (t: unknown): { content: Array<{ type: 'text'; text: string }> } => ({ content: [{ type: 'text', text: String(t) }] });

server.registerTool('echo', { inputSchema: { text: z.string() }, annotations: { readOnlyHint: true } }, ({ text: t }) => text(t));
server.registerTool('add', { inputSchema: { a: z.number(), b: z.number() }, annotations: { readOnlyHint: true } }, ({ a, b }) => text(a + b));
server.registerTool('pid', { annotations: { readOnlyHint: true } }, () => text(process.pid));
server.registerTool('boom', { annotations: { readOnlyHint: true } }, () => {
  throw new Error('boom: thrown by the soak upstream');
});

await server.connect(new StdioServerTransport());
