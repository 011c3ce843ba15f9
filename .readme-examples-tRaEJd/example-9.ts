import { createRedisBackplane, McpWsServer } from 'mcp-ws';

const backplane = createRedisBackplane({ url: 'redis://127.0.0.1:6379', keyPrefix: 'myapp:' });
const server = new McpWsServer({ handler: router, backplane, port: 0 });
await server.listen();                                   // opens the backplane
router.notifyResourceUpdated('weather://stations');      // every subscriber, every node
server.sendToSession(sessionId, { method: 'notifications/message', params: { level: 'info', data: 'hi' } });
//   → 'delivered' (held here) | 'published' (sent to the other nodes) | 'unknown' (no backplane)
process.on('SIGTERM', () => void server.close().then(() => backplane.close()));
