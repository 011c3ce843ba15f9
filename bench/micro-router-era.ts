/**
 * The native router's dispatch of one tools/call (the demo `echo`, 200 B of
 * text), in process, per era, side by side in one run:
 * - legacy: a request of an initialized 2025-11-25 session (no `_meta`);
 * - 2026-07-28: the same call with the per-request `_meta` (version, client
 *   info, capabilities) on a fresh handler, no initialize;
 * - the era check alone (`modernMeta`) on the legacy request: what every
 *   legacy request pays for the new era.
 * Messages are parsed once up front (the session parses each frame before
 * dispatch, the same for both eras), so the rows compare the router's own
 * work: era check, _meta reading, dispatch, result serialisation.
 *
 * Run alone: npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro-router-era.js
 * Writes bench/results/micro-router-era-<time>.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { createDemoRouter } from '../src/demo/demo-router.js';
import { modernMeta } from '../src/protocol/meta.js';
import type { JsonRpcRequest } from '../src/protocol/jsonrpc.js';
import type { SessionHandler, SessionPeer } from '../src/server/handler.js';

const BATCH = 1_000;
const TEXT = 'The quick brown fox jumps over the lazy dog; MCP over WebSocket load test payload. '.repeat(3).slice(0, 200);

/** A peer that drops what it is sent: the benchmark measures dispatch, not the socket. */
const peer: SessionPeer = { id: 'bench', remoteAddress: '127.0.0.1', identity: undefined, sendText() {}, notify() {}, close() {} };

const router = createDemoRouter();
const legacy: SessionHandler = router.createHandler(peer);
void legacy.request({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'b', version: '1' } } });
const modern: SessionHandler = router.createHandler(peer);

const legacyMsg: JsonRpcRequest = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: TEXT } } };
const modernMsg: JsonRpcRequest = {
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: {
    name: 'echo',
    arguments: { text: TEXT },
    _meta: {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientInfo': { name: 'b', version: '1' },
      'io.modelcontextprotocol/clientCapabilities': {},
    },
  },
};

function run(h: SessionHandler, msg: JsonRpcRequest): number {
  let n = 0;
  for (let i = 0; i < BATCH; i++) n += (h.request(msg) as string).length;
  return n;
}

let sink = 0;
const bench = new Bench({ time: 2000, warmupTime: 500 });
bench
  .add('legacy session tools/call', () => void (sink += run(legacy, legacyMsg)))
  .add('2026-07-28 stateless tools/call', () => void (sink += run(modern, modernMsg)))
  .add('era check alone (modernMeta, legacy request)', () => {
    let n = 0;
    for (let i = 0; i < BATCH; i++) if (modernMeta(legacyMsg.params) === undefined) n++;
    sink += n;
  });
await bench.run();

const rows = bench.tasks.map((t) => {
  const r = t.result as { latency?: { mean: number }; mean?: number } | undefined;
  const meanMs = r?.latency?.mean ?? r?.mean ?? NaN;
  const nsPerOp = (meanMs * 1e6) / BATCH;
  return { name: t.name, nsPerOp, opsPerSecond: 1e9 / nsPerOp };
});
const base = rows[0]!.nsPerOp;
const lines = [
  `# Router dispatch per era, ${new Date().toISOString()}`,
  '',
  `Command: \`node dist-bench/bench/micro-router-era.js\`; Node ${process.version}; batches of ${BATCH}; load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(', ')}.`,
  '',
  '| case | ns/op | ops/s | vs legacy |',
  '|---|---:|---:|---:|',
  ...rows.map((r) => `| ${r.name} | ${r.nsPerOp.toFixed(0)} | ${Math.round(r.opsPerSecond).toLocaleString('en-US')} | ${((r.nsPerOp / base - 1) * 100).toFixed(1)} % |`),
  '',
  'The per-request cost of 2026-07-28 over a legacy session: reading and checking `_meta`, and the larger result (resultType and serverInfo).',
];
const dir = join(process.cwd(), 'bench', 'results'); // run from the repository root, as npm scripts do
mkdirSync(dir, { recursive: true });
const file = `micro-router-era-${new Date().toISOString().replace(/:/g, '-').replace(/\..*/, 'Z')}.md`;
writeFileSync(join(dir, file), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n(sink ${sink})\nwrote bench/results/${file}\n`);
