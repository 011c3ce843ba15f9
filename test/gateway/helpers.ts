/**
 * Gateway test helpers: real gateways on loopback port 0 in front of real
 * upstream processes. Everything started here is stopped by closeAll()
 * (servers drained, pools closed, any stdio child still alive SIGKILLed).
 */
import { fileURLToPath } from 'node:url';
import { McpWsServer } from '../../src/server/server.js';
import type { McpWsServerOptions } from '../../src/server/server-options.js';
import { McpWsGateway, type McpWsGatewayOptions } from '../../src/gateway/gateway.js';
import { killAllStdioChildren } from '../../src/gateway/upstream-stdio.js';
import { McpWsClient } from '../../src/transport/client.js';

/** Our stdio test server (SDK McpServer + StdioServerTransport, with slow and flaky tools). */
export const FIXTURE = fileURLToPath(new URL('./fixtures/test-server.mjs', import.meta.url));
/** The reference server-everything entry point (stdio by default; `streamableHttp` as argument). */
export const EVERYTHING = fileURLToPath(new URL('../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url));

/** A stdio upstream running the fixture under this Node. */
export function fixtureUpstream(name: string): { command: string; args: string[]; env: Record<string, string>; name: string } {
  return { command: process.execPath, args: [FIXTURE], env: { FIXTURE_NAME: name }, name };
}

const started: Array<{ server: McpWsServer; gateway: McpWsGateway }> = [];
const clients: McpWsClient[] = [];

/** Starts a gateway and a server in front of it on 127.0.0.1:0. */
export async function startGateway(
  options: McpWsGatewayOptions,
  serverOptions: Partial<McpWsServerOptions> = {},
): Promise<{ gateway: McpWsGateway; server: McpWsServer; url: string }> {
  const gateway = new McpWsGateway(options);
  await gateway.start();
  const server = new McpWsServer({ handler: gateway, port: 0, processMetrics: false, drainTimeoutMs: 500, ...serverOptions, metrics: [...gateway.metrics(), ...(serverOptions.metrics ?? [])] });
  const address = await server.listen();
  started.push({ server, gateway });
  return { gateway, server, url: address.url };
}

/** Connects and initializes an McpWsClient (closed by closeAll). */
export async function connect(url: string, options: { headers?: Record<string, string>; capabilities?: Record<string, unknown> } = {}): Promise<McpWsClient> {
  const client = await McpWsClient.connect(url, { headers: options.headers, requestTimeoutMs: 15_000, heartbeat: false });
  clients.push(client);
  await client.initialize({ name: 'gateway-test', version: '1.0.0' }, '2025-06-18', options.capabilities ?? {});
  return client;
}

/** Text of the first content item of a tools/call result. */
export function text(result: unknown): string {
  return ((result as { content: Array<{ text: string }> }).content[0]!).text;
}

/** Resolves when `pred` holds, checking every 20 ms; rejects after `ms` (the shared waitFor). */
export { waitFor as until } from '../helpers.js';

/** Closes every client, server and gateway started here and kills leftover children. */
export async function closeAll(): Promise<void> {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  for (const { server, gateway } of started.splice(0)) {
    await server.close();
    await gateway.close();
  }
  killAllStdioChildren();
}
