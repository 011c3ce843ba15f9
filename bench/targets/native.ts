/**
 * Target (b): mcp-ws with its native router (the demo router, whose `echo`
 * tool the generator calls), every default feature on. Heartbeats can be
 * tuned with HEARTBEAT_INTERVAL_MS for the idle-sessions benchmark.
 */
import { McpWsServer } from '../../src/server/server.js';
import { createDemoRouter } from '../../src/demo/demo-router.js';
import { serveTarget } from './target-ipc.js';

serveTarget(async () => {
  const interval = process.env.HEARTBEAT_INTERVAL_MS;
  const server = new McpWsServer({
    handler: createDemoRouter(),
    port: 0,
    ...(interval !== undefined ? { heartbeatIntervalMs: Number(interval) } : {}),
  });
  const { url } = await server.listen();
  return { url, close: () => server.close(), sessions: () => server.sessionCount };
});
