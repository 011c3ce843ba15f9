/**
 * Target (e): mcp-ws with its native router (the demo router) over
 * Streamable HTTP on the same endpoint the WebSocket targets use: the same
 * server as (b), reached at http://…/mcp, every default feature on.
 */
import { McpWsServer } from '../../src/server/server.js';
import { createDemoRouter } from '../../src/demo/demo-router.js';
import { serveTarget } from './target-ipc.js';

serveTarget(async () => {
  const server = new McpWsServer({ handler: createDemoRouter(), port: 0 });
  const { host, port } = await server.listen();
  return { url: `http://${host}:${port}/mcp`, close: () => server.close(), sessions: () => server.httpSessionCount };
});
