/**
 * One contract for every upstream kind, run against real servers: our
 * fixture as a stdio child (our line framing and the SDK's), an mcp-ws
 * WebSocket server, and server-everything's Streamable HTTP server. Then
 * each kind end to end through a gateway, and the credentials rule.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { McpWsServer } from '../../src/server/server.js';
import { createDemoRouter } from '../../src/demo/demo-router.js';
import { defaultConnector } from '../../src/gateway/connector.js';
import { parseUpstream } from '../../src/gateway/config.js';
import { silentLogger } from '../../src/log.js';
import type { UpstreamConnection } from '../../src/gateway/upstream.js';
import { EVERYTHING, FIXTURE, closeAll, connect, startGateway, text, until } from './helpers.js';
import { freePort } from '../helpers.js';

let wsServer: McpWsServer;
let wsUrl = '';
let httpChild: ChildProcess | undefined;
let httpUrl = '';

beforeAll(async () => {
  wsServer = new McpWsServer({ handler: createDemoRouter(), port: 0, processMetrics: false });
  wsUrl = (await wsServer.listen()).url;
  const port = await freePort();
  httpChild = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server-everything streamableHttp did not start: ${err}`)), 15_000);
    httpChild!.stderr!.on('data', (d) => {
      err += d;
      if (/listening on port/i.test(err)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  httpUrl = `http://127.0.0.1:${port}/mcp`;
}, 30_000);

afterAll(async () => {
  await closeAll();
  await wsServer.close();
  httpChild?.kill('SIGKILL');
});

/** A tiny client over one connection: requests by id, for the contract. */
function rpc(conn: UpstreamConnection): { call(method: string, params?: object): Promise<any>; notes: JSONRPCMessage[] } {
  let next = 1;
  const waiting = new Map<number, (m: any) => void>();
  const notes: JSONRPCMessage[] = [];
  conn.onmessage = (m) => {
    const id = (m as { id?: number }).id;
    if (id !== undefined && !('method' in m)) waiting.get(id)?.(m);
    else notes.push(m);
  };
  return {
    notes,
    call(method, params) {
      const id = next++;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        conn.send({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) } as JSONRPCMessage);
      });
    },
  };
}

const KINDS = [
  ['stdio (line framing)', () => ({ command: process.execPath, args: [FIXTURE] })],
  ['stdio (SDK transport)', () => ({ command: process.execPath, args: [FIXTURE], transport: 'sdk' as const })],
  ['ws', () => wsUrl],
  ['http', () => httpUrl],
] as const;

describe.each(KINDS)('upstream contract: %s', (_label, input) => {
  it('starts, answers ping (where allowed before initialize), initializes, lists tools, closes once', async () => {
    const spec = parseUpstream(input());
    const conn = defaultConnector(spec, silentLogger);
    const closes: string[] = [];
    conn.onclose = (r) => closes.push(r);
    await conn.start();
    const c = rpc(conn);
    if (conn.preInitPing) expect((await c.call('ping')).result).toEqual({});
    const init = await c.call('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } });
    expect(init.result.protocolVersion).toBe('2025-06-18');
    conn.setProtocolVersion('2025-06-18');
    conn.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    expect((await c.call('ping')).result).toEqual({});
    const list = await c.call('tools/list');
    expect(list.result.tools.length).toBeGreaterThan(0);
    await conn.close();
    await conn.close();
    await until(() => closes.length > 0, 5000, 'onclose');
    expect(closes).toHaveLength(1);
  });

  it('serves a client end to end through a gateway', async () => {
    const { url } = await startGateway({ upstreams: [input()], pool: { minConnections: 1 } });
    const c = await connect(url);
    const { tools } = await c.request<{ tools: Array<{ name: string }> }>('tools/list');
    expect(tools.map((t) => t.name)).toContain('echo');
    const args = tools.some((t) => t.name === 'trigger-long-running-operation') ? { message: 'hello' } : { text: 'hello' };
    expect(text(await c.request('tools/call', { name: 'echo', arguments: args }))).toContain('hello');
  });
});

describe('credentials', () => {
  it('sends the upstream its configured headers and never the client’s bearer token', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (socket, req) => {
      seen.push(req.headers);
      socket.on('message', (d) => {
        const m = JSON.parse((d as Buffer).toString());
        if (m.id === undefined) return;
        const result = m.method === 'initialize' ? { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'raw', version: '1' } } : {};
        socket.send(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }));
      });
    });
    await new Promise((r) => wss.once('listening', r));
    const port = (wss.address() as AddressInfo).port;
    try {
      const { url } = await startGateway({
        upstreams: [{ url: `ws://127.0.0.1:${port}/`, headers: { Authorization: 'Bearer upstream-credential' } }],
      });
      const c = await connect(url, { headers: { Authorization: 'Bearer client-secret' } });
      await c.request('ping');
      expect(seen.length).toBeGreaterThan(0);
      for (const h of seen) {
        expect(h.authorization).toBe('Bearer upstream-credential');
        expect(JSON.stringify(h)).not.toContain('client-secret');
      }
    } finally {
      await closeAll();
      wss.close();
    }
  });
});
