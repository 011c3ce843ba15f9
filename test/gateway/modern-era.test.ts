/**
 * 2026-07-28 requests (protocol keys in `_meta`, no initialize) reaching the
 * gateway are answered there, without leasing an upstream session: a
 * malformed `_meta` gets -32602, an unknown revision -32022, and a
 * well-formed modern request -32022 listing the legacy revisions, after
 * which the same client is served through initialize as before.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { WebSocketClientTransport } from '../../src/transport/client-transport.js';
import { EVERYTHING, closeAll, startGateway, until } from './helpers.js';

const RAW = fileURLToPath(new URL('./fixtures/raw-server.mjs', import.meta.url));
const raw = { command: process.execPath, args: [RAW], name: 'raw' };
const PV = 'io.modelcontextprotocol/protocolVersion';
const CAPS = 'io.modelcontextprotocol/clientCapabilities';

const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await closeAll();
});

async function open(url: string): Promise<{ ask: (msg: Record<string, unknown>) => Promise<Record<string, unknown>> }> {
  const ws = new WebSocket(url, ['mcp']);
  sockets.push(ws);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const waiting = new Map<unknown, (m: Record<string, unknown>) => void>();
  ws.on('message', (data) => {
    const m = JSON.parse((data as Buffer).toString()) as Record<string, unknown>;
    waiting.get(m.id)?.(m);
  });
  return {
    ask: (msg) => new Promise((resolve) => {
      waiting.set(msg.id, resolve);
      ws.send(JSON.stringify({ jsonrpc: '2.0', ...msg }));
    }),
  };
}

interface PoolView { leased: number; waiting: number }

describe('gateway: 2026-07-28 requests', () => {
  it('are answered at the gateway, never leasing an upstream, and the client then falls back to initialize', { timeout: 60_000 }, async () => {
    const { gateway, url } = await startGateway({ upstreams: [raw], pool: { minConnections: 1, maxConnections: 2 } });
    const pool = (): PoolView => gateway.snapshot().pool as unknown as PoolView;
    await until(() => (gateway.snapshot().pool as { size: number }).size === 1, 10_000, 'the warm session');
    const c = await open(url);

    const noCaps = await c.ask({ id: 1, method: 'tools/list', params: { _meta: { [PV]: '2026-07-28' } } });
    expect((noCaps.error as { code: number }).code).toBe(-32602);

    const noVersion = await c.ask({ id: 2, method: 'server/discover', params: { _meta: { [CAPS]: {} } } });
    expect((noVersion.error as { code: number }).code).toBe(-32602);

    const unknown = await c.ask({ id: 3, method: 'tools/list', params: { _meta: { [PV]: '2099-01-01', [CAPS]: {} } } });
    expect(unknown.error).toMatchObject({ code: -32022, data: { requested: '2099-01-01' } });

    const modern = await c.ask({ id: 4, method: 'server/discover', params: { _meta: { [PV]: '2026-07-28', [CAPS]: {} } } });
    expect(modern.error).toMatchObject({ code: -32022, data: { requested: '2026-07-28' } });
    const supported = (modern.error as { data: { supported: string[] } }).data.supported;
    expect(supported).toContain('2025-11-25');
    expect(supported).not.toContain('2026-07-28');

    expect(pool()).toMatchObject({ leased: 0, waiting: 0 });

    const init = await c.ask({ id: 5, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    expect(init.result).toBeDefined();
    expect(pool().leased).toBe(1);
  });

  it('the v2 SDK Client: auto negotiation falls back to a legacy session in front of server-everything, a 2026 pin is refused', { timeout: 60_000 }, async () => {
    const { url } = await startGateway({ upstreams: [{ command: process.execPath, args: [EVERYTHING], name: 'everything' }], pool: { minConnections: 0, maxConnections: 2 } });
    const auto = new ClientV2({ name: 'v2-auto', version: '2.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await auto.connect(new WebSocketClientTransport(url, { heartbeat: false }));
    try {
      const listed = await auto.listTools();
      expect(listed.tools.map((t) => t.name)).toContain('echo');
    } finally {
      await auto.close();
    }
    const pinned = new ClientV2({ name: 'v2-pin', version: '2.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await expect(pinned.connect(new WebSocketClientTransport(url, { heartbeat: false }))).rejects.toThrow();
    await pinned.close().catch(() => undefined);
  });
});
