/**
 * Gateway target: McpWsGateway in front of the official server-everything
 * run as stdio children, built as `mcp-ws gateway --upstream "node
 * node_modules/@modelcontextprotocol/server-everything/dist/index.js stdio"
 * --min-connections N` builds it (src/cli/gateway.ts), with a silent logger.
 * Each client session gets its own upstream child (see src/gateway/pool.ts);
 * the pool keeps MIN_CONNECTIONS (default 4) warm.
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
    pool: { minConnections: min },
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
      return { sessions: gateway.sessionCount, poolSize: p.size, idle: p.idle, leased: p.leased };
    },
  };
});
