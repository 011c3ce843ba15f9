import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { WebSocketClientTransport, McpWsClient } from 'mcp-ws';
// With the SDK Client:
const client = new Client({ name: 'agent', version: '1.0.0' });
await client.connect(new WebSocketClientTransport('ws://127.0.0.1:42143/ws', {
    headers: { Authorization: `Bearer ${process.env.TOKEN}` },
    heartbeat: { intervalMs: 15_000, timeoutMs: 5_000 },
}));
console.log(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }));
await client.close(); // without it the socket keeps the process alive
// Or the small standalone client:
const c = await McpWsClient.connect('ws://127.0.0.1:42143/ws');
await c.initialize();
c.onNotification('notifications/progress', (params) => console.log(params));
console.log(await c.request('tools/call', { name: 'add', arguments: { a: 1, b: 2 } }));
await c.close();
