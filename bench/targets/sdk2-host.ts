/**
 * Target (c2): mcp-ws hosting the v2 SDK's McpServer (one per session)
 * through SdkHost, every default server feature on; beside (c), the v1 one.
 */
import { McpWsServer } from '../../src/server/server.js';
import { SdkHost } from '../../src/sdk/sdk-host.js';
import { createSdk2EchoServer } from './sdk2-echo.js';
import { serveTarget } from './target-ipc.js';

serveTarget(async () => {
  const server = new McpWsServer({ handler: new SdkHost(() => createSdk2EchoServer()), port: 0 });
  const { url } = await server.listen();
  return { url, close: () => server.close(), sessions: () => server.sessionCount };
});
