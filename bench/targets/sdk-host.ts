/**
 * Target (c): mcp-ws hosting the SDK's McpServer (one per session) through
 * SdkHost, every default server feature on.
 */
import { McpWsServer } from '../../src/server/server.js';
import { SdkHost } from '../../src/sdk/sdk-host.js';
import { createSdkEchoServer } from './sdk-echo.js';
import { serveTarget } from './target-ipc.js';

serveTarget(async () => {
  const server = new McpWsServer({ handler: new SdkHost(() => createSdkEchoServer()), port: 0 });
  const { url } = await server.listen();
  return { url, close: () => server.close(), sessions: () => server.sessionCount };
});
