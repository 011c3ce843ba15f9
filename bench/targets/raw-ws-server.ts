/**
 * The floors: a bare `ws` server that parses each JSON-RPC message and
 * stringifies a response of the same shape mcp-ws sends
 * (`{"jsonrpc":"2.0","id":…,"result":{"content":[{"type":"text","text":…}]}}`).
 * No MCP, no envelope check, no metrics: what Node + ws cost per message.
 *
 * `cork: true` is the tuned floor: replies written in one turn of the event
 * loop leave in one writev, corked on the first send and uncorked in the
 * check phase, as mcp-ws's session does. Against it, "× floor" measures
 * mcp-ws's own work, not the corking both do.
 */
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { StartedTarget } from './target-ipc.js';

interface Msg {
  id?: number | string;
  method?: string;
  params?: { protocolVersion?: string; arguments?: { text?: string } };
}

function reply(data: RawData): string | undefined {
  let msg: Msg;
  try {
    msg = JSON.parse((data as Buffer).toString()) as Msg;
  } catch {
    return undefined;
  }
  if (msg.id === undefined) return undefined; // a notification
  let result: unknown;
  if (msg.method === 'tools/call') result = { content: [{ type: 'text', text: msg.params?.arguments?.text ?? '' }] };
  else if (msg.method === 'initialize') {
    result = { protocolVersion: msg.params?.protocolVersion ?? '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'raw-ws', version: '0' } };
  } else result = {};
  return JSON.stringify({ jsonrpc: '2.0', id: msg.id, result });
}

function onMessage(this: WebSocket, data: RawData): void {
  const text = reply(data);
  if (text !== undefined) this.send(text);
}

const kSocket = Symbol('socket');
type CorkedWs = WebSocket & { [kSocket]: Socket; corked?: boolean };
let corked: CorkedWs[] = [];

function uncorkAll(): void {
  const list = corked;
  corked = [];
  for (const ws of list) {
    ws.corked = false;
    ws[kSocket].uncork();
  }
}

function onMessageCorked(this: CorkedWs, data: RawData): void {
  const text = reply(data);
  if (text === undefined) return;
  if (this.corked !== true) {
    this.corked = true;
    this[kSocket].cork();
    corked.push(this);
    if (corked.length === 1) setImmediate(uncorkAll);
  }
  this.send(text);
}

/** Starts a floor server on a free loopback port. */
export async function startRawWs(options: { cork: boolean }): Promise<StartedTarget> {
  const http = createServer();
  const wss = new WebSocketServer({
    server: http,
    clientTracking: false,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has('mcp') ? 'mcp' : false),
  });
  let sessions = 0;
  wss.on('connection', (ws, req) => {
    sessions++;
    if (options.cork) {
      (ws as CorkedWs)[kSocket] = req.socket as Socket;
      ws.on('message', onMessageCorked as (this: WebSocket, data: RawData) => void);
    } else ws.on('message', onMessage);
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
}
