import { afterAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpWsClient } from '../../src/transport/client.js';
import { WebSocketClientTransport } from '../../src/transport/client-transport.js';
import { availableCodecs } from '../../src/compression/codecs.js';
import { compressionStats } from '../../src/compression/stats.js';
import { closeAll, startServer } from '../helpers.js';

afterAll(closeAll);

describe('client codecs', () => {
  it.each(availableCodecs())('McpWsClient speaks %s with the server, both directions', async (codec) => {
    const { url, server } = await startServer({ compression: { algorithms: [codec], minCompressSize: 256 } });
    const before = { out: compressionStats[codec].compressed, in: compressionStats[codec].decompressed };
    const c = await McpWsClient.connect(url, { codecs: [codec], minCompressSize: 256, heartbeat: false });
    await c.initialize();
    const text = 'a fairly compressible sentence, repeated. '.repeat(200);
    const r = (await c.request('tools/call', { name: 'echo', arguments: { text } })) as { content: Array<{ text: string }> };
    expect(r.content[0]!.text).toBe(text);
    // Both the request and the reply went compressed (stats are per process: client and server share them here).
    expect(compressionStats[codec].compressed - before.out).toBeGreaterThanOrEqual(2);
    expect(compressionStats[codec].decompressed - before.in).toBeGreaterThanOrEqual(2);
    expect(server.metrics.errors.codec).toBe(0);
    await c.close();
  });

  it('falls back to plain text against a server without codecs', async () => {
    const { url } = await startServer({ compression: { enabled: false } });
    const c = await McpWsClient.connect(url, { codecs: ['gzip'], heartbeat: false });
    await c.initialize();
    expect(await c.request('ping')).toEqual({});
    await c.close();
  });

  it('the SDK Client works through WebSocketClientTransport with a codec', async () => {
    const { url } = await startServer({ compression: { algorithms: ['gzip'], minCompressSize: 64 } });
    const client = new Client({ name: 'codec-sdk', version: '1' });
    const transport = new WebSocketClientTransport(url, { codecs: ['gzip'], minCompressSize: 64, heartbeat: false });
    await client.connect(transport);
    expect(transport.protocol).toBe('mcp.gzip');
    const tools = await client.listTools();
    expect(tools.tools.length).toBe(6);
    const r = await client.callTool({ name: 'echo', arguments: { text: 'x'.repeat(5000) } });
    expect((r.content as Array<{ text: string }>)[0]!.text).toHaveLength(5000);
    await client.close();
  });

  it('rejects an unknown codec name with a clear message', async () => {
    await expect(McpWsClient.connect('ws://127.0.0.1:1/ws', { codecs: ['lz4' as never] })).rejects.toThrow(/codecs should hold zstd, br, gzip, deflate/);
  });
});
