/**
 * RpcError is the one JSON-RPC error class: handlers throw it, the client
 * rejects with it, and the public entry point exports it under both of its
 * names.
 */
import { describe, it, expect, afterEach } from 'vitest';
import * as pkg from '../../src/index.js';
import { McpWsClient } from '../../src/transport/client.js';
import { startServer, type TestServer } from './helpers.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function server(): Promise<TestServer> {
  const s = await startServer();
  cleanups.push(() => s.close());
  return s;
}

describe('RpcError', () => {
  it('is exported under both names as the same class', () => {
    expect(pkg.McpRpcError).toBe(pkg.RpcError);
    const e = new pkg.McpRpcError(-32602, 'bad', { x: 1 });
    expect(e).toBeInstanceOf(pkg.RpcError);
    expect(e).toMatchObject({ name: 'RpcError', code: -32602, rpcCode: -32602, message: 'bad', data: { x: 1 } });
  });

  it('is what an error reply rejects with, under either name', async () => {
    const s = await server();
    const client = await McpWsClient.connect(s.url);
    cleanups.push(() => client.close());
    const err = await client.request('fail').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(pkg.RpcError);
    expect(err).toBeInstanceOf(pkg.McpRpcError);
    expect(err).toMatchObject({ code: -32602, rpcCode: -32602, message: 'bad params', data: { field: 'x' } });
  });

  it('answers a server request with its code when a client handler throws it', async () => {
    const s = await server();
    const client = await McpWsClient.connect(s.url);
    cleanups.push(() => client.close());
    client.onRequest('elicitation/create', () => {
      throw new pkg.McpRpcError(-32602, 'missing schema');
    });
    expect(await client.request('ask-client', { method: 'elicitation/create' })).toEqual({
      answer: { jsonrpc: '2.0', id: 's1', error: { code: -32602, message: 'missing schema' } },
    });
  });
});
