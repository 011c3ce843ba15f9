import { Client } from '@modelcontextprotocol/client';
import { WebSocketClientTransport } from 'mcp-ws';

const client = new Client({ name: 'agent', version: '2.0.0' }, { versionNegotiation: { mode: 'auto' } });
const transport = new WebSocketClientTransport('ws://127.0.0.1:42143/ws', { reconnect: { maxAttempts: 5 } });
await client.connect(transport);
console.log(transport.protocolVersion, await client.callTool({ name: 'echo', arguments: { text: 'hi' } }));
await client.close();
