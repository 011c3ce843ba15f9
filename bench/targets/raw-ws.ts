/**
 * Target (a), the floor: a bare `ws` server that parses each JSON-RPC
 * message and stringifies a response of the same shape mcp-ws sends
 * (`{"jsonrpc":"2.0","id":…,"result":{"content":[{"type":"text","text":…}]}}`).
 * No MCP, no envelope check, no metrics: what Node + ws cost per message.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { serveTarget } from './target-ipc.js';

interface Msg {
  id?: number | string;
  method?: string;
  params?: { protocolVersion?: string; arguments?: { text?: string } };
}

function onMessage(this: WebSocket, data: RawData): void {
  let msg: Msg;
  try {
    msg = JSON.parse((data as Buffer).toString()) as Msg;
  } catch {
    return;
  }
  if (msg.id === undefined) return; // a notification
  let result: unknown;
  if (msg.method === 'tools/call') result = { content: [{ type: 'text', text: msg.params?.arguments?.text ?? '' }] };
  else if (msg.method === 'initialize') {
    result = { protocolVersion: msg.params?.protocolVersion ?? '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'raw-ws', version: '0' } };
  } else result = {};
  this.send(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
}

serveTarget(async () => {
  const http = createServer();
  const wss = new WebSocketServer({
    server: http,
    clientTracking: false,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has('mcp') ? 'mcp' : false),
  });
  let sessions = 0;
  wss.on('connection', (ws) => {
    sessions++;
    ws.on('message', onMessage);
    ws.on('close', () => sessions--);
    ws.on('error', () => {});
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    sessions: () => sessions,
    close: () =>
      new Promise<void>((resolve) => {
        wss.close();
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
});
