/**
 * The v2 SDK's McpServer (`@modelcontextprotocol/server`) with the same echo
 * tool as the v1 one in sdk-echo.ts: targets (c2) and (d2) serve it.
 */
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

/** A new v2 McpServer with one tool, echo {text}. */
export function createSdk2EchoServer(): McpServer {
  const server = new McpServer({ name: 'sdk2-echo', version: '0.1.0' });
  server.registerTool(
    'echo',
    {
      description: 'Returns the text it is given.',
      inputSchema: z.object({ text: z.string() }),
      annotations: { readOnlyHint: true, idempotentHint: true },
    },
    ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  return server;
}
