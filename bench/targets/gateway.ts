/**
 * Gateway target: McpWsGateway in front of the official server-everything
 * run as stdio children, built as `mcp-ws gateway --upstream "node
 * node_modules/@modelcontextprotocol/server-everything/dist/index.js stdio"
 * --min-connections N` builds it (src/cli/gateway.ts), with a silent logger.
 * Each client session gets its own upstream child (see src/gateway/pool.ts);
 * the pool keeps MIN_CONNECTIONS (default 4) warm. With SHARING=shared
 * (`--sharing shared`) every client is multiplexed over a few children
 * instead (src/gateway/shared.ts).
 */
import { fileURLToPath } from 'node:url';
import { McpWsServer } from '../../src/server/server.js';
import { McpWsGateway } from '../../src/gateway/gateway.js';
import { serveTarget } from './target-ipc.js';

/** The server-everything entry point, resolved from this compiled file (dist-bench/bench/targets/). */
const EVERYTHING_ENTRY = fileURLToPath(new URL('../../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url));

serveTarget(async () => {
  const min = Number(process.env.MIN_CONNECTIONS ?? 4);
  const gateway = new McpWsGateway({
    upstreams: [{ command: process.execPath, args: [EVERYTHING_ENTRY, 'stdio'], name: 'everything' }],
    // A generous connect timeout: on a loaded machine four children starting at once take seconds to answer ping.
    pool: { minConnections: min, connectTimeoutMs: 60_000, sharing: process.env.SHARING === 'shared' ? 'shared' : 'per-client' },
  });
  await gateway.start();
  const server = new McpWsServer({ handler: gateway, port: 0, metrics: gateway.metrics() });
  const { url } = await server.listen();
  return {
    url,
    close: async () => {
      await server.close();
      await gateway.close();
    },
    sessions: () => gateway.sessionCount,
    stats: () => {
      const p = gateway.pool;
      // Shared lane sessions stay leased while the gateway runs: they are not client sessions.
      return { sessions: gateway.sessionCount, poolSize: p.size, idle: p.idle, leased: p.leased - (gateway.shared?.size ?? 0) };
    },
  };
});
