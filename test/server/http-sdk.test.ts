/**
 * The official SDK v1 client over Streamable HTTP against our endpoint, in a
 * legacy (Mcp-Session-Id) session: tools, progress, resources, prompts; and
 * a WebSocket client on the same port at the same time.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import WebSocket from 'ws';
import { closeAll, startServer } from '../helpers.js';

// Node 20 has no global WebSocket; the SDK transport uses the global one.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

afterAll(closeAll);

describe('SDK v1 Client + StreamableHTTPClientTransport against the endpoint', () => {
  it('lists and calls tools (with progress), reads resources, gets prompts, then ends the session with DELETE', async () => {
    const { server, base } = await startServer();
    const client = new Client({ name: 'http-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
    await client.connect(transport);
    expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(server.httpSessionCount).toBe(1);

    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'add', 'sleep']));
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'over http' } });
    expect(echo.content).toEqual([{ type: 'text', text: 'over http' }]);

    const progress: number[] = [];
    const slept = await client.callTool({ name: 'sleep', arguments: { ms: 50 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(slept.isError).not.toBe(true);
    expect(progress.length).toBeGreaterThan(0);

    const resources = await client.listResources();
    expect(resources.resources.length).toBeGreaterThan(0);
    const read = await client.readResource({ uri: resources.resources[0]!.uri });
    expect(read.contents.length).toBeGreaterThan(0);
    const prompts = await client.listPrompts();
    expect(prompts.prompts.length).toBeGreaterThan(0);
    const prompt = prompts.prompts[0]!;
    const args = Object.fromEntries((prompt.arguments ?? []).map((a) => [a.name, 'x']));
    const got = await client.getPrompt({ name: prompt.name, arguments: args });
    expect(got.messages.length).toBeGreaterThan(0);

    await transport.terminateSession();
    expect(server.httpSessionCount).toBe(0);
    await client.close();
  });

  it('serves a WebSocket client and an HTTP client on the same port at once', async () => {
    const { url, base } = await startServer();
    const ws = new Client({ name: 'ws', version: '1.0.0' });
    await ws.connect(new WebSocketClientTransport(new URL(url)));
    const http = new Client({ name: 'http', version: '1.0.0' });
    await http.connect(new StreamableHTTPClientTransport(new URL(`${base}/ws`)));
    const [a, b] = await Promise.all([
      ws.callTool({ name: 'add', arguments: { a: 1, b: 2 } }),
      http.callTool({ name: 'add', arguments: { a: 3, b: 4 } }),
    ]);
    expect(a.content).toEqual([{ type: 'text', text: '3' }]);
    expect(b.content).toEqual([{ type: 'text', text: '7' }]);
    await ws.close();
    await http.close();
  });
});
