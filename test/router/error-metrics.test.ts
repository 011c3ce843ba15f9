import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SdkHost } from '../../src/sdk/sdk-host.js';
import { RawClient, closeAll, startServer, scrape } from '../helpers.js';

afterAll(closeAll);

/** mcp_ws_errors_total{kind="…"} as scraped from /metrics. */
async function errorsOf(base: string, kind: string): Promise<number> {
  const text = await scrape(base);
  const line = text.split('\n').find((l) => l.startsWith(`mcp_ws_errors_total{kind="${kind}"}`));
  expect(line, `a mcp_ws_errors_total line for ${kind}`).toBeDefined();
  return Number(line!.split(' ').pop());
}

describe('mcp_ws_errors_total counts method_not_found and invalid_params', () => {
  it('native router: each -32601 and -32602 reply is counted once', async () => {
    const { base, url } = await startServer();
    expect(await errorsOf(base, 'method_not_found')).toBe(0);
    expect(await errorsOf(base, 'invalid_params')).toBe(0);
    const c = await RawClient.session(url);
    expect((await c.request('no/such/method')).error.code).toBe(-32601);
    expect((await c.request('another/unknown')).error.code).toBe(-32601);
    // Router-made -32602s: unknown tool, bad cursor, missing argument, and one a handler throws.
    expect((await c.request('tools/call', { name: 'nope' })).error.code).toBe(-32602);
    expect((await c.request('tools/list', { cursor: 'not-a-cursor' })).error.code).toBe(-32602);
    expect((await c.request('logging/setLevel', { level: 'loud' })).error.code).toBe(-32602);
    expect((await c.request('prompts/get', { name: 'summarize', arguments: { text: 'x'.repeat(100_001) } })).error.code).toBe(-32602);
    // Argument errors are tool results (SEP-1303), not -32602: not counted.
    expect((await c.request('tools/call', { name: 'echo', arguments: {} })).result.isError).toBe(true);
    expect(await errorsOf(base, 'method_not_found')).toBe(2);
    expect(await errorsOf(base, 'invalid_params')).toBe(4);
    c.close();
  });

  it("SDK-hosted server: the SDK's own -32601 and -32602 replies are counted", async () => {
    const make = (): McpServer => {
      const s = new McpServer({ name: 'sdk', version: '1' });
      s.registerPrompt('p', { argsSchema: { a: z.string() } }, ({ a }) => ({
        messages: [{ role: 'user', content: { type: 'text', text: a } }],
      }));
      return s;
    };
    const { base, url } = await startServer({ handler: new SdkHost(make) });
    const c = await RawClient.session(url);
    expect((await c.request('no/such/method')).error.code).toBe(-32601);
    expect((await c.request('prompts/get', { name: 'nope' })).error.code).toBe(-32602);
    expect((await c.request('prompts/get', { name: 'p', arguments: {} })).error.code).toBe(-32602);
    expect((await c.request('prompts/get', { name: 'p', arguments: { a: 'fine' } })).result.messages).toHaveLength(1);
    expect(await errorsOf(base, 'method_not_found')).toBe(1);
    expect(await errorsOf(base, 'invalid_params')).toBe(2);
    c.close();
  });
});
