/**
 * WebSocketClientTransport resumes its MCP session (SEP-1288) after a
 * dropped connection: the SDK Client goes on without initializing again,
 * and a call in flight across the drop gets its reply. The drop is real: a
 * TCP proxy between client and server cuts every connection.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpRouter } from '../../src/router/router.js';
import { WebSocketClientTransport } from '../../src/transport/client-transport.js';
import { closeAll, startServer } from '../helpers.js';
import { nextEvent } from './helpers.js';

const proxies: Server[] = [];
afterAll(async () => {
  for (const p of proxies) p.close();
  await closeAll();
});

/** A TCP proxy to `port` whose connections the test can cut. */
async function proxy(port: number): Promise<{ url: string; cut(): void }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  proxies.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const p = (server.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${p}/ws`,
    cut: () => {
      for (const s of sockets) s.resetAndDestroy();
    },
  };
}

function gatedRouter(): { router: McpRouter; release(v: string): void; started: Promise<void> } {
  let release!: (v: string) => void;
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  const router = new McpRouter({ name: 'resume-client-test', version: '1' })
    .tool({ name: 'echo' }, (args) => String(args.text))
    .tool({ name: 'wait' }, () => {
      markStarted();
      return new Promise<string>((r) => (release = r));
    });
  return { router, release: (v) => release(v), started };
}

const fastReconnect = { initialDelayMs: 5, maxDelayMs: 20, multiplier: 2, maxAttempts: 20 };

describe('WebSocketClientTransport resume', () => {
  it('resumes after a dropped connection: no new initialize, the call in flight gets its reply', async () => {
    const gate = gatedRouter();
    const { router, started } = gate;
    const { server } = await startServer({ handler: router });
    const p = await proxy(Number(new URL(server.url).port));
    const t = new WebSocketClientTransport(p.url, { heartbeat: false, reconnect: fastReconnect });
    const events: string[] = [];
    for (const name of ['disconnected', 'reconnected', 'resumed'] as const) t.on(name, () => void events.push(name));
    const client = new Client({ name: 'c', version: '1' });
    await client.connect(t);
    expect((await client.callTool({ name: 'echo', arguments: { text: 'before' } })).content).toEqual([{ type: 'text', text: 'before' }]);

    const inFlight = client.callTool({ name: 'wait', arguments: {} });
    await started;
    const resumed = nextEvent(t, 'resumed');
    p.cut();
    await resumed;
    gate.release('after the drop');
    expect((await inFlight).content).toEqual([{ type: 'text', text: 'after the drop' }]);
    expect((await client.callTool({ name: 'echo', arguments: { text: 'after' } })).content).toEqual([{ type: 'text', text: 'after' }]);
    expect(events).toEqual(['disconnected', 'resumed']);
    expect(server.resumer.stats.resumed).toBe(1);
    await client.close();
  });

  it('falls back to reconnected, failing the calls in flight, when the server no longer has the session', async () => {
    const { router, started } = gatedRouter();
    const { server } = await startServer({ handler: router });
    const p = await proxy(Number(new URL(server.url).port));
    const t = new WebSocketClientTransport(p.url, { heartbeat: false, reconnect: fastReconnect });
    const client = new Client({ name: 'c', version: '1' });
    await client.connect(t);
    const inFlight = client.callTool({ name: 'wait', arguments: {} });
    await started;
    // The server keeps nothing from now on (as after a restart).
    server.resumer.close();
    const reconnected = nextEvent(t, 'reconnected');
    p.cut();
    await reconnected;
    await expect(inFlight).rejects.toThrow(/Connection closed/);
    expect(server.resumer.stats.refused).toBe(1);
    await client.close();
  });

  it('offers mcp.version.<v> when asked, and the SDK Client runs on the pre-negotiated version', async () => {
    const { router } = gatedRouter();
    const { server } = await startServer({ handler: router });
    const t = new WebSocketClientTransport(server.url, { heartbeat: false, protocolVersion: '2025-06-18' });
    const client = new Client({ name: 'c', version: '1' });
    await client.connect(t);
    expect(t.protocol).toBe('mcp.version.2025-06-18');
    expect(t.protocolVersion).toBe('2025-06-18');
    await client.close();
    expect(() => new WebSocketClientTransport(server.url, { protocolVersion: 'a b' })).toThrow('protocolVersion should be a version token');
  });
});
