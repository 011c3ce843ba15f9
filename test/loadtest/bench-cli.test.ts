/**
 * `mcp-ws bench`, run as a user runs it: the built CLI (bin/mcp-ws.js → dist/)
 * against servers started here on loopback. Counts and shapes only — no
 * timing assertions (a timed test flakes on a shared machine).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { closeAll, startServer } from '../helpers.js';
import { run } from '../cli/run.js';
import { buildRequestTemplate, readResponse, lastId, Reading } from '../../src/loadtest/request-template.js';

const CHROMIUM = '/usr/bin/chromium';
const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-bench-'));
let url: string;

beforeAll(async () => {
  ({ url } = await startServer());
});
afterAll(closeAll);

function oneLine(text: string): string {
  const lines = text.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(text).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

describe('mcp-ws bench', () => {
  it('sends exactly --messages requests and reports them as JSON', async () => {
    const r = await run(['bench', url, '--messages', '200', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.transport).toBe('websocket');
    expect(out.connections).toEqual({ opened: 10, failed: 0, lost: 0 });
    expect(out.requests).toEqual({ sent: 200, ok: 200, error: 0, timeout: 0 });
    expect(out.firstError).toBeUndefined();
    expect(out.requestBytes).toBeGreaterThanOrEqual(190);
    expect(out.requestBytes).toBeLessThanOrEqual(210);
    for (const k of ['p50', 'p90', 'p99', 'p999', 'max']) expect(out.latencyMs[k]).toBeGreaterThan(0);
    expect(out.perSecond.reduce((a: number, b: number) => a + b, 0)).toBe(200);
  });

  it('spreads sessions over worker threads and merges their histograms', async () => {
    const r = await run(['bench', url, '--messages', '301', '--connections', '5', '--concurrency', '4', '--workers', '2', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.connections.opened).toBe(5);
    expect(out.requests).toEqual({ sent: 301, ok: 301, error: 0, timeout: 0 });
  });

  it('runs an open loop at a fixed rate', async () => {
    const r = await run(['bench', url, '--rate', '400', '--duration', '1', '--connections', '4', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.mode).toBe('open-loop');
    expect(out.requests.ok).toBeGreaterThan(0);
    expect(out.requests.error + out.requests.timeout).toBe(0);
  });

  it('counts JSON-RPC errors as errors, with the first message', async () => {
    const r = await run(['bench', url, '--messages', '20', '--method', 'tools/call', '--params', '{"name":"nope"}', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.requests).toEqual({ sent: 20, ok: 0, error: 20, timeout: 0 });
    expect(out.firstError).toMatch(/Unknown tool: nope/);
  });

  it('prints the human summary by default', async () => {
    const r = await run(['bench', url, '--messages', '50', '--connections', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/connections\s+2 opened, 0 failed/);
    expect(r.stdout).toMatch(/requests\s+50 ok, 0 error, 0 timeout/);
    expect(r.stdout).toMatch(/latency ms\s+p50 [\d.]+\s+p90 [\d.]+\s+p99 [\d.]+\s+p99\.9 [\d.]+\s+max [\d.]+/);
    expect(r.stdout).toMatch(/generator\s+CPU \d+ %/);
  });

  it.each([
    [['--connections', '0'], /--connections should be an integer from 1/],
    [['--duration', '2', '--messages', '5'], /give --duration or --messages, not both/],
    [['--params', '{'], /--params is not valid JSON/],
    [['--rate', '10', '--concurrency', '2'], /--concurrency applies to closed-loop runs/],
    [['--header', 'nocolon'], /--header should look like "Name: value"/],
    [['--workers', '3', '--connections', '2'], /--workers should not exceed --connections/],
  ])('rejects bad input %j with one line and exit 1', async (args, message) => {
    const r = await run(['bench', url, ...args]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(oneLine(r.stderr)).toMatch(message);
  });

  it('reports an unreachable URL in one line, exit 1', async () => {
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const { port } = free.address() as AddressInfo;
    await new Promise<void>((resolve) => free.close(() => resolve()));
    const r = await run(['bench', `ws://127.0.0.1:${port}/ws`, '--messages', '10']);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/^mcp-ws: cannot connect to ws:\/\/127\.0\.0\.1:\d+\/ws: .*ECONNREFUSED/);
  });

  it('reports an HTTP rejection of the upgrade in one line, exit 1', async () => {
    const r = await run(['bench', url.replace(/\/ws$/, '/elsewhere'), '--messages', '10']);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/HTTP 404/);
  });

  describe('over Streamable HTTP', () => {
    let http: Server;
    let httpUrl: string;
    beforeAll(async () => {
      // The SDK's stateless mode: a new server and transport per POST.
      http = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          void (async () => {
            const server = new McpServer({ name: 'sdk-echo', version: '1.0.0' });
            server.registerTool('echo', { inputSchema: { text: z.string() } }, ({ text }) => ({ content: [{ type: 'text', text }] }));
            const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
            res.on('close', () => {
              void transport.close();
              void server.close();
            });
            await server.connect(transport);
            await transport.handleRequest(req, res, JSON.parse(Buffer.concat(chunks).toString()));
          })();
        });
      });
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
    });
    afterAll(() => new Promise<void>((resolve) => http.close(() => resolve())));

    it('initializes each session and matches every answer', async () => {
      const r = await run(['bench', httpUrl, '--messages', '60', '--connections', '3', '--concurrency', '2', '--json']);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.transport).toBe('streamable-http');
      expect(out.requests).toEqual({ sent: 60, ok: 60, error: 0, timeout: 0 });
    });
  });

  const haveChromium = existsSync(CHROMIUM);
  it.skipIf(!haveChromium && process.env.REQUIRE_CHROMIUM !== '1')('writes an --html report that renders its charts in Chromium', async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is required (apt-get install chromium)`).toBe(true);
    const file = join(dir, 'report.html');
    const r = await run(['bench', url, '--messages', '200', '--html', file]);
    expect(r.code).toBe(0);
    const html = readFileSync(file, 'utf8');
    expect(html).not.toMatch(/<script|<link|src="http|href="http/);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(pathToFileURL(file).href);
      for (const id of ['#latency-chart', '#throughput-chart']) {
        const box = await page.locator(id).boundingBox();
        expect(box, id).not.toBeNull();
        expect(box!.width).toBeGreaterThan(0);
        expect(box!.height).toBeGreaterThan(0);
      }
      expect(await page.locator('#latency-chart polyline').count()).toBe(1);
      expect(await page.locator('#throughput-chart rect.bar').count()).toBeGreaterThan(0);
      expect(await page.locator('#summary').innerText()).toContain('200 ok');
    } finally {
      await browser.close();
    }
  });
});

describe('response reading', () => {
  const read = (text: string): [Reading, number] => {
    const r = readResponse(Buffer.from(text));
    return [r, r === Reading.Other ? -1 : lastId];
  };

  it('reads ids forwards (mcp-ws, ws) and backwards (the SDK) without parsing', () => {
    expect(read('{"jsonrpc":"2.0","id":1234,"result":{"content":[]}}')).toEqual([Reading.Ok, 1234]);
    expect(read('{"result":{"content":[{"type":"text","text":"{\\"id\\":9}"}]},"jsonrpc":"2.0","id":77}')).toEqual([Reading.Ok, 77]);
    expect(read('{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"bad"}}')).toEqual([Reading.Error, 5]);
  });

  it('falls back to JSON.parse for other shapes, and ignores what is not a response', () => {
    expect(read('{"id":3,"jsonrpc":"2.0","result":{}}')).toEqual([Reading.Ok, 3]);
    expect(read('{"jsonrpc":"2.0","method":"notifications/progress","params":{}}')[0]).toBe(Reading.Other);
    expect(read('{"jsonrpc":"2.0","id":4,"method":"ping"}')[0]).toBe(Reading.Other);
    expect(read('not json')[0]).toBe(Reading.Other);
  });

  it('pads the echo request to the asked size and changes only the id', () => {
    const t = buildRequestTemplate('tools/call', undefined, 200);
    const text = `${t.prefix}123456${t.suffix}`;
    expect(Buffer.byteLength(text)).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ jsonrpc: '2.0', id: 123456, method: 'tools/call', params: { name: 'echo' } });
    expect(JSON.parse(`${t.prefix}7${t.suffix}`).id).toBe(7);
  });
});
