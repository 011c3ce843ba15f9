/**
 * The official SDK's McpServer with an `echo` tool equivalent to the demo
 * router's: targets (c) and (d) serve it.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

/** A new McpServer with one tool, echo {text}. */
export function createSdkEchoServer(): McpServer {
  const server = new McpServer({ name: 'sdk-echo', version: '0.1.0' });
  server.registerTool(
    'echo',
    {
      description: 'Returns the text it is given.',
      inputSchema: { text: z.string() },
      annotations: { readOnlyHint: true, idempotentHint: true },
    },
    ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  return server;
}
