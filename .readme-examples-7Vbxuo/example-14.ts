import { McpWsClient } from 'mcp-ws';

const c = await McpWsClient.connect('ws://127.0.0.1:42143/ws', { protocolVersion: '2026-07-28' });
console.log((await c.discover()).supportedVersions); // no initialize: _meta rides on every request
console.log(await c.request('tools/call', { name: 'echo', arguments: { text: 'hi' } }));
await c.close();
