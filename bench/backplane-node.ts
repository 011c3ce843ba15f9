/**
 * One node of bench/backplane.ts, in its own process so its CPU time is
 * its own: a native router with `touch {uri}` (one notifyResourceUpdated)
 * and `burst {uri, n}` (n of them in a loop), on 127.0.0.1:0, with a Redis
 * backplane when argv[2] is a redis:// URL ('none' for none; argv[3] the
 * key prefix). Prints its ws:// URL; answers {type:'stats'} on the IPC
 * channel with its CPU time and the backplane's counters.
 */
import { createRedisBackplane } from '../src/backplane/backplane.js';
import { McpRouter } from '../src/router/router.js';
import { McpWsServer } from '../src/server/server.js';

const url = process.argv[2]!;
const backplane = url === 'none' ? undefined : createRedisBackplane({ url, keyPrefix: process.argv[3]!, maxPendingPublishes: 1_000_000 });
const router = new McpRouter({ name: 'backplane-bench', version: '1' });
router.tool({ name: 'touch', inputSchema: { type: 'object', properties: { uri: { type: 'string' } }, required: ['uri'] } }, (args) => {
  router.notifyResourceUpdated(args.uri as string);
  return 'ok';
});
// Paced: 500 at a time, then wait for Redis to answer them all, so no PUBLISH waits long
// enough to time out and the cost measured is the steady one.
router.tool({ name: 'burst', inputSchema: { type: 'object', properties: { uri: { type: 'string' }, n: { type: 'integer', minimum: 1, maximum: 10_000_000 } }, required: ['uri', 'n'] } }, async (args) => {
  const n = args.n as number;
  for (let done = 0; done < n; ) {
    const chunk = Math.min(500, n - done);
    for (let i = 0; i < chunk; i++) router.notifyResourceUpdated(args.uri as string);
    done += chunk;
    while ((backplane?.stats.pending ?? 0) > 0) await new Promise((r) => setImmediate(r));
  }
  return 'ok';
});
const server = new McpWsServer({ handler: router, port: 0, processMetrics: false, heartbeatIntervalMs: 0, resumeGraceMs: 0, backplane });
const address = await server.listen();
if (backplane && !(await backplane.whenUp(10_000))) throw new Error('backplane not up');
process.stdout.write(`${address.url}\n`);
process.on('message', (m: { type?: string }) => {
  if (m.type === 'stats') {
    const cpu = process.cpuUsage();
    const s = backplane?.stats;
    process.send!({ cpuMicros: cpu.user + cpu.system, published: s?.published ?? 0, received: s?.received ?? 0, pending: s?.pending ?? 0, dropped: s ? Object.values(s.dropped).reduce((a, b) => a + b, 0) : 0 });
  } else if (m.type === 'exit') {
    void server.close().then(() => backplane?.close()).then(() => process.exit(0));
  }
});
