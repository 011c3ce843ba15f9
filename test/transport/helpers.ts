/**
 * A tiny JSON-RPC responder on a real `ws` WebSocketServer, for the client
 * tests. Methods:
 * - `initialize` → a minimal MCP initialize result (echoes the requested version)
 * - `tools/list` → one `echo` tool
 * - `tools/call` → its arguments as text; never answered for the tool `slow`
 * - `echo` → `{ echo: params }`
 * - `fail` → error -32602 "bad params" with `data: { field: 'x' }`
 * - `slow` → never answered
 * - `notify-me` → sends `notifications/message` with the params, then replies `{}`
 * - `ask-client` → sends a request `params.method` to the client and replies
 *   `{ answer }` with the client's reply (result or error)
 * - `close-me` → closes with `params.code` / `params.reason`
 * Anything else → -32601.
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import WebSocket, { WebSocketServer, type ServerOptions } from 'ws';

/** One message the test server received, with the socket it came on. */
export interface Received {
  readonly socket: WebSocket;
  readonly message: Record<string, unknown>;
}

/** Handle on a running test server. */
export interface TestServer {
  readonly url: string;
  readonly port: number;
  readonly wss: WebSocketServer;
  /** Upgrade requests, in order. */
  readonly upgrades: IncomingMessage[];
  /** Server-side sockets, in order of connection. */
  readonly sockets: WebSocket[];
  /** Every parsed inbound message. */
  readonly received: Received[];
  /** Resolves with the first received message (past or future) matching `pred`. */
  waitForMessage(pred: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Resolves with the n-th (1-based) server-side socket once it has connected. */
  waitForConnection(n: number): Promise<WebSocket>;
  /** Terminates all sockets and stops listening. */
  close(): Promise<void>;
}

/** Starts the responder on 127.0.0.1, port 0. */
export async function startServer(options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (protocols) => (protocols.has('mcp') ? 'mcp' : false),
    ...options,
  });
  await once(wss, 'listening');
  const port = (wss.address() as net.AddressInfo).port;
  const upgrades: IncomingMessage[] = [];
  const sockets: WebSocket[] = [];
  const received: Received[] = [];
  const messageWaiters: { pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];
  const connectionWaiters: { n: number; resolve: (ws: WebSocket) => void }[] = [];
  let nextServerId = 1;
  const clientReplies = new Map<string, (reply: Record<string, unknown>) => void>();

  wss.on('connection', (ws, req) => {
    upgrades.push(req);
    sockets.push(ws);
    ws.on('error', () => undefined);
    for (const w of connectionWaiters.filter((w) => w.n === sockets.length)) w.resolve(ws);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse((data as Buffer).toString()) as Record<string, unknown>;
      } catch {
        return;
      }
      received.push({ socket: ws, message: msg });
      for (let i = messageWaiters.length - 1; i >= 0; i--) {
        const w = messageWaiters[i]!;
        if (w.pred(msg)) {
          messageWaiters.splice(i, 1);
          w.resolve(msg);
        }
      }
      respond(ws, msg);
    });
  });

  function send(ws: WebSocket, value: unknown): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(value));
  }

  function respond(ws: WebSocket, msg: Record<string, unknown>): void {
    const id = msg.id;
    const params = (msg.params ?? {}) as Record<string, unknown>;
    if (typeof msg.method !== 'string') {
      // A reply to a server-to-client request.
      const waiter = clientReplies.get(String(id));
      if (waiter) {
        clientReplies.delete(String(id));
        waiter(msg);
      }
      return;
    }
    if (id === undefined) return; // Notifications get no reply.
    const reply = (result: unknown): void => send(ws, { jsonrpc: '2.0', id, result });
    switch (msg.method) {
      case 'initialize':
        reply({
          protocolVersion: params.protocolVersion,
          capabilities: { tools: {} },
          serverInfo: { name: 'test-server', version: '1.0.0' },
        });
        return;
      case 'tools/list':
        reply({ tools: [{ name: 'echo', description: 'Echoes its input', inputSchema: { type: 'object' } }] });
        return;
      case 'tools/call':
        if (params.name === 'slow') return;
        reply({ content: [{ type: 'text', text: JSON.stringify(params.arguments ?? {}) }] });
        return;
      case 'echo':
        reply({ echo: params });
        return;
      case 'fail':
        send(ws, { jsonrpc: '2.0', id, error: { code: -32602, message: 'bad params', data: { field: 'x' } } });
        return;
      case 'slow':
        return;
      case 'notify-me':
        send(ws, { jsonrpc: '2.0', method: 'notifications/message', params });
        reply({});
        return;
      case 'ask-client': {
        const serverId = `s${nextServerId++}`;
        clientReplies.set(serverId, (answer) => reply({ answer }));
        send(ws, { jsonrpc: '2.0', id: serverId, method: params.method, params: params.params ?? {} });
        return;
      }
      case 'close-me':
        ws.close(params.code as number, params.reason as string);
        return;
      default:
        send(ws, { jsonrpc: '2.0', id, error: { code: -32601, message: 'Method not found' } });
    }
  }

  return {
    url: `ws://127.0.0.1:${port}/mcp`,
    port,
    wss,
    upgrades,
    sockets,
    received,
    waitForMessage(pred) {
      const found = received.find((r) => pred(r.message));
      if (found) return Promise.resolve(found.message);
      return new Promise((resolve) => messageWaiters.push({ pred, resolve }));
    },
    waitForConnection(n) {
      if (sockets.length >= n) return Promise.resolve(sockets[n - 1]!);
      return new Promise((resolve) => connectionWaiters.push({ n, resolve }));
    },
    async close() {
      const closed = new Promise<void>((resolve) => wss.close(() => resolve()));
      for (const ws of wss.clients) ws.terminate();
      await closed;
    },
  };
}

/** A TCP server that accepts connections and never answers. */
export async function startSilentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/mcp`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export { freePort } from '../helpers.js';

/** Resolves on the next emission of `event` with its first argument. */
export function nextEvent<T>(emitter: { once(event: string, listener: (arg: T) => void): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, resolve));
}
