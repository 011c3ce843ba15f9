/**
 * McpWsClient and `mcp-ws call` in the stateless 2026-07-28 era, against the
 * real demo server (in process) and the built CLI (child process).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpWsClient, resolveMcpWsClientOptions } from '../../src/transport/client.js';
import { WebSocketConnectError } from '../../src/transport/connect-error.js';
import { closeAll, startServer } from '../helpers.js';
import { run } from '../cli/run.js';

afterAll(closeAll);

describe('McpWsClient with protocolVersion 2026-07-28', () => {
  let url: string;
  beforeAll(async () => ({ url } = await startServer()));

  it('sends _meta on every request, needs no initialize, and discovers the server', async () => {
    const client = await McpWsClient.connect(url, { protocolVersion: '2026-07-28', clientInfo: { name: 'era', version: '2' } });
    expect(client.era).toBe('modern');
    const d = await client.discover();
    expect(d.supportedVersions[0]).toBe('2026-07-28');
    const r = await client.request<{ resultType: string; content: unknown[] }>('tools/call', { name: 'echo', arguments: { text: 'hi' } });
    expect(r).toMatchObject({ resultType: 'complete', content: [{ type: 'text', text: 'hi' }] });
    // A caller's own _meta (progressToken) rides beside the per-request fields.
    const s = await client.request<{ resultType: string }>('tools/call', { name: 'sleep', arguments: { ms: 1 }, _meta: { progressToken: 'p' } });
    expect(s.resultType).toBe('complete');
    await expect(client.initialize()).rejects.toThrow(/initialize is not part of the stateless revision/);
    await client.close();
  });

  it('is refused at the upgrade, with the supported list, for a revision the server does not serve (SEP-1288 mcp.version.<v>)', async () => {
    const err = await McpWsClient.connect(url, { protocolVersion: '2099-01-01' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebSocketConnectError);
    expect((err as WebSocketConnectError).status).toBe(400);
    expect((err as Error).message).toMatch(/HTTP 400 Bad Request: unsupported MCP protocol version; supported: 2026-07-28, 2025-11-25/);
  });

  it('checks the new options, naming them', () => {
    expect(() => resolveMcpWsClientOptions({ protocolVersion: 'latest' })).toThrow(/protocolVersion should be a revision like '2026-07-28', got/);
    expect(() => resolveMcpWsClientOptions({ clientInfo: { name: 'x' } as never })).toThrow(/clientInfo should be/);
    expect(() => resolveMcpWsClientOptions({ clientCapabilities: [] as never })).toThrow(/clientCapabilities should be an object/);
    expect(resolveMcpWsClientOptions({}).protocolVersion).toBeUndefined();
  });
});

describe('mcp-ws call --protocol-version 2026-07-28', () => {
  let url: string;
  beforeAll(async () => ({ url } = await startServer()));

  it('calls without initialize and prints the stateless result; MRTR shows input_required', async () => {
    const r = await run(['call', url, 'tools/call', '{"name":"echo","arguments":{"text":"hi"}}', '--protocol-version', '2026-07-28']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ resultType: 'complete', content: [{ type: 'text', text: 'hi' }] });
    const ask = await run(['call', url, 'tools/call', '{"name":"ask","arguments":{"question":"?"}}', '--protocol-version', '2026-07-28', '--capabilities', '{"elicitation":{}}']);
    expect(JSON.parse(ask.stdout).resultType).toBe('input_required');
  });

  it('prints one line and exits 1 on -32021, -32022 and bad --capabilities', async () => {
    const noCap = await run(['call', url, 'tools/call', '{"name":"ask","arguments":{"question":"?"}}', '--protocol-version', '2026-07-28']);
    expect(noCap.code).toBe(1);
    expect(noCap.stderr.trim()).toBe('mcp-ws: tools/call failed: -32021 Missing required client capability: elicitation');
    const bad = await run(['call', url, 'tools/list', '--protocol-version', '1900-01-01']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^mcp-ws: WebSocket upgrade rejected: HTTP 400 Bad Request: unsupported MCP protocol version; supported: 2026-07-28, [^\n]*$/);
    const caps = await run(['call', url, 'tools/list', '--protocol-version', '2026-07-28', '--capabilities', '[1]']);
    expect(caps.code).toBe(1);
    expect(caps.stderr).toMatch(/--capabilities should be a JSON object/);
  });
});
