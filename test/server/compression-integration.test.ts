import { existsSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { gunzipSync, gzipSync, brotliDecompressSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket as WsClient } from 'ws';
import { RawClient, closeAll, startServer } from '../helpers.js';
import { serve } from '../cli/run.js';

afterAll(closeAll);

const CHROMIUM = '/usr/bin/chromium';

function bigEcho(id: number, n: number): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'lorem ipsum dolor sit amet '.repeat(n) } } });
}

/** Opens a socket offering `protocols` and permessage-deflate; resolves with what the server chose. */
function handshake(url: string, protocols: string[]): Promise<{ protocol: string; extensions: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WsClient(url, protocols, { perMessageDeflate: true, handshakeTimeout: 10_000 });
    ws.once('open', () => {
      const r = { protocol: ws.protocol, extensions: ws.extensions };
      ws.close();
      resolve(r);
    });
    ws.once('error', reject);
  });
}

describe('compression defaults', () => {
  it('a server with no compression settings offers the codec subprotocols, but not permessage-deflate', async () => {
    const { url } = await startServer();
    expect(await handshake(url, ['mcp.gzip', 'mcp'])).toEqual({ protocol: 'mcp.gzip', extensions: '' });
    expect(await handshake(url, ['mcp'])).toEqual({ protocol: 'mcp', extensions: '' });
  });

  it('mcp-ws serve without a config file offers the codecs too; compression.enabled false turns them off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-compression-'));
    const plain = await serve(['--port', '0']);
    try {
      expect(await handshake(plain.url, ['mcp.gzip', 'mcp'])).toEqual({ protocol: 'mcp.gzip', extensions: '' });
    } finally {
      plain.child.kill('SIGTERM');
      await plain.exit;
    }
    const file = join(dir, 'off.json');
    writeFileSync(file, JSON.stringify({ compression: { enabled: false } }));
    const off = await serve(['--port', '0', '--config', file]);
    try {
      expect(await handshake(off.url, ['mcp.gzip', 'mcp'])).toEqual({ protocol: 'mcp', extensions: '' });
    } finally {
      off.child.kill('SIGTERM');
      await off.exit;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('negotiated codecs on the wire', () => {
  it('selects the preferred codec the client offers, compresses large replies into binary frames, leaves small ones as text', async () => {
    const { url } = await startServer({ compression: { algorithms: ['br', 'gzip'], minCompressSize: 512 } });
    const c = await RawClient.open(url, ['mcp.gzip', 'mcp.br', 'mcp']);
    expect(c.ws.protocol).toBe('mcp.br');
    const initFrame = new Promise<{ raw: Buffer; binary: boolean }>((resolve) => c.ws.once('message', (d: Buffer, binary) => resolve({ raw: d, binary })));
    c.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {} } });
    const init = await initFrame;
    await c.nextRaw(); // the helper's copy of the same frame
    // Compressed (a binary frame) exactly when the reply's JSON is at least minCompressSize.
    const initJson = init.binary ? brotliDecompressSync(init.raw).toString() : init.raw.toString();
    expect(JSON.parse(initJson).id).toBe(1);
    expect(init.binary).toBe(Buffer.byteLength(initJson) >= 512);
    c.send({ jsonrpc: '2.0', id: 2, method: 'ping' });
    const small = await c.nextRaw();
    expect(small.binary).toBe(false);
    expect(JSON.parse(small.data)).toEqual({ jsonrpc: '2.0', id: 2, result: {} });
    c.ws.binaryType = 'nodebuffer';
    const got = new Promise<Buffer>((resolve) => c.ws.once('message', (d: Buffer, binary) => binary && resolve(d)));
    c.send(bigEcho(3, 200));
    const frame = await got;
    const reply = JSON.parse(brotliDecompressSync(frame).toString());
    expect(reply.id).toBe(3);
    expect(reply.result.content[0].text).toHaveLength(27 * 200);
    expect(frame.length).toBeLessThan(27 * 200 / 4);
    c.close();
  });

  it('decodes compressed requests in binary frames, in order with text frames', async () => {
    const { url } = await startServer({ compression: { algorithms: ['gzip'], minCompressSize: 100000 } });
    const c = await RawClient.open(url, ['mcp.gzip', 'mcp']);
    expect(c.ws.protocol).toBe('mcp.gzip');
    c.ws.send(gzipSync(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {} } })), { binary: true });
    c.ws.send(gzipSync(bigEcho(2, 50)), { binary: true });
    c.send({ jsonrpc: '2.0', id: 3, method: 'ping' });
    c.ws.send(gzipSync(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'ping' })), { binary: true });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await c.next()).id);
    expect(ids).toEqual([1, 2, 3, 4]);
    c.close();
  });

  it('gives a client that offers only mcp plain text frames, and still closes 1003 on binary', async () => {
    const { url } = await startServer({ compression: { algorithms: ['zstd', 'gzip'], minCompressSize: 16 } });
    const c = await RawClient.open(url, ['mcp']);
    expect(c.ws.protocol).toBe('mcp');
    c.send(bigEcho(1, 100));
    const r = await c.nextRaw();
    expect(r.binary).toBe(false);
    c.ws.send(gzipSync('{}'), { binary: true });
    expect((await c.closed).code).toBe(1003);
  });

  it('closes with 1007 on a binary frame that is not valid compressed data', async () => {
    const { url } = await startServer({ compression: { algorithms: ['gzip'] } });
    const c = await RawClient.open(url, ['mcp.gzip']);
    c.ws.send(Buffer.from('definitely not gzip'), { binary: true });
    expect((await c.closed).code).toBe(1007);
  });

  it('caps decompression at maxPayload: 200 bombs of 1 MiB of zeros each close 1009, memory stays bounded, the server keeps serving', async () => {
    const { url, server } = await startServer({ compression: { algorithms: ['gzip'] }, maxPayload: 64 * 1024 });
    const bomb = gzipSync(Buffer.alloc(1024 * 1024, 0x20)); // ~1 KiB on the wire
    const before = process.memoryUsage().rss;
    let peak = before;
    for (let i = 0; i < 200; i++) {
      const c = await RawClient.open(url, ['mcp.gzip']);
      c.ws.send(bomb, { binary: true });
      expect((await c.closed).code).toBe(1009);
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(peak - before).toBeLessThan(100 * 1024 * 1024);
    expect(server.metrics.errors.codec).toBe(200);
    const ok = await RawClient.session(url);
    expect((await ok.request('ping')).result).toEqual({});
    ok.close();
    const metrics = await (await fetch(url.replace('ws://', 'http://').replace('/ws', '/metrics'))).text();
    expect(metrics).toMatch(/^mcp_ws_compression_refused_total\{codec="gzip",reason="too_big"\} [1-9]\d*$/m);
  });

  it('exports bytes before and after compression per codec', async () => {
    const { url } = await startServer({ compression: { algorithms: ['gzip'], minCompressSize: 64 } });
    const c = await RawClient.open(url, ['mcp.gzip']);
    c.send({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {} } });
    await c.nextRaw();
    c.send(bigEcho(1, 100));
    expect((await c.nextRaw()).binary).toBe(true);
    const metrics = await (await fetch(url.replace('ws://', 'http://').replace('/ws', '/metrics'))).text();
    const inBytes = Number(/^mcp_ws_compression_in_bytes_total\{codec="gzip"\} (\d+)/m.exec(metrics)![1]);
    const outBytes = Number(/^mcp_ws_compression_out_bytes_total\{codec="gzip"\} (\d+)/m.exec(metrics)![1]);
    expect(inBytes).toBeGreaterThan(outBytes);
    expect(outBytes).toBeGreaterThan(0);
    expect(gunzipSync(gzipSync('x')).toString()).toBe('x');
    c.close();
  });
});

describe('permessage-deflate in a real browser', () => {
  const have = existsSync(CHROMIUM);
  if (!have) {
    console.warn(`\n!!! ${CHROMIUM} not found: the browser test cannot run (apt-get install chromium; CI sets REQUIRE_CHROMIUM=1)\n`);
  }
  it.skipIf(!have && process.env.REQUIRE_CHROMIUM !== '1')('negotiates permessage-deflate with headless Chromium and round-trips MCP messages', async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is required`).toBe(true);
    const { url } = await startServer({ compression: { permessageDeflate: { enabled: true, threshold: 64 } }, allowedOrigins: ['*'] });
    const page = createHttpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>mcp-ws</title>');
    });
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    const pageUrl = `http://127.0.0.1:${(page.address() as { port: number }).port}/`;
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'] });
    try {
      const tab = await browser.newPage();
      await tab.goto(pageUrl);
      const result = await tab.evaluate(async (wsUrl: string) => {
        const ws = new WebSocket(wsUrl, ['mcp']);
        await new Promise((resolve, reject) => {
          ws.onopen = resolve;
          ws.onerror = reject;
        });
        const replies: unknown[] = [];
        const next = () => new Promise<unknown>((resolve) => (ws.onmessage = (e) => resolve(JSON.parse(e.data as string))));
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {} } }));
        replies.push(await next());
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'abc '.repeat(500) } } }));
        replies.push(await next());
        return { extensions: ws.extensions, protocol: ws.protocol, replies };
      }, url);
      expect(result.extensions).toContain('permessage-deflate');
      expect(result.protocol).toBe('mcp');
      const echo = result.replies[1] as { result: { content: Array<{ text: string }> } };
      expect(echo.result.content[0]!.text).toBe('abc '.repeat(500));
    } finally {
      await browser.close();
      page.close();
    }
  });
});
