/**
 * `mcp-ws call URL METHOD [JSON]`: connect, initialize (not with
 * `--protocol-version 2026-07-28`, whose request carries `_meta`), one request, print
 * the result as JSON on stdout, exit 0. A JSON-RPC error prints
 * "mcp-ws: <method> failed: <code> <message>" and exits 1.
 */
import { McpWsClient } from '../transport/client.js';

function parseHeaders(list: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const h of (list as string[] | undefined) ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new Error(`--header should look like "Name: value", got "${h}"`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return headers;
}

function parseParams(text: string | undefined, what = 'params'): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} are not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what} should be a JSON object`);
  return value as Record<string, unknown>;
}

export async function runCall(url: string, method: string, paramsText: string | undefined, opts: Record<string, unknown>): Promise<void> {
  const params = parseParams(paramsText);
  const headers = parseHeaders(opts.header);
  const timeoutMs = opts.timeoutMs as number;
  if (!/^wss?:\/\//.test(url)) throw new Error(`URL should start with ws:// or wss://, got "${url}"`);
  const clientInfo = { name: 'mcp-ws-call', version: '0.1.0' };
  const capabilities = opts.capabilities === undefined ? {} : parseParams(opts.capabilities as string, '--capabilities')!;
  const protocolVersion = opts.protocolVersion as string | undefined;
  const client = await McpWsClient.connect(url, {
    headers,
    connectTimeoutMs: timeoutMs,
    ...(protocolVersion === undefined ? {} : { protocolVersion, clientInfo, clientCapabilities: capabilities }),
  });
  try {
    // Stateless revisions have no handshake: the request carries its own _meta.
    if (protocolVersion === undefined && method !== 'initialize') await client.initialize(clientInfo, undefined, capabilities);
    let result: unknown;
    try {
      result = await client.request(method, params, { timeoutMs });
    } catch (err) {
      const e = err as { code?: unknown; message: string };
      throw new Error(`${method} failed: ${typeof e.code === 'number' ? `${e.code} ` : ''}${e.message}`);
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await client.close();
  }
}
