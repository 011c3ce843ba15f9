/**
 * Federation's list-merging cost: one `tools/list` of a client session over
 * 3 servers × 100 tools (prefixing, filters, the route-back check, the
 * signed cursor when there are more pages, the merged reply), against the
 * same session over 1 server × 100 tools and over 3 × 100 with a cursor to
 * check. The servers are in-memory handlers answering at once with a reply
 * serialised as an upstream would send it, so what is timed is the
 * federation layer alone (parsing the three replies included), not pipes or
 * child processes.
 *
 * Writes bench/results/micro-federation-<stamp>.md.
 *
 * Run: npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro-federation.js
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { McpWsFederation } from '../src/gateway/federation.js';
import type { JsonRpcRequest } from '../src/protocol/jsonrpc.js';
import type { SessionHandler, SessionPeer } from '../src/server/handler.js';
import { fmt, markdownTable } from './lib/markdown.js';
import { loadAverage, nodeInfo, stamp } from './lib/suite.js';

const TOOLS = 100;

/** A tool as the SDK lists one: name, description, a small input schema. */
function tool(i: number): Record<string, unknown> {
  return {
    name: `tool_${i}`,
    description: `Does thing number ${i} with the given arguments`,
    inputSchema: { type: 'object', properties: { text: { type: 'string' }, count: { type: 'number' } }, required: ['text'] },
    annotations: { readOnlyHint: i % 2 === 0 },
  };
}

/** An upstream gateway session stand-in: answers initialize and tools/list at once. */
function fakeInner(tools: number, pageSize: number): SessionHandler {
  const all = Array.from({ length: tools }, (_, i) => tool(i));
  return {
    protocolVersion: '2025-06-18',
    request(msg: JsonRpcRequest) {
      const id = JSON.stringify(msg.id);
      if (msg.method === 'initialize') {
        return `{"jsonrpc":"2.0","id":${id},"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"s","version":"1"}}}`;
      }
      const cursor = (msg.params as { cursor?: string } | undefined)?.cursor;
      const from = cursor === undefined ? 0 : Number(cursor);
      const page = all.slice(from, from + pageSize);
      const next = from + pageSize < all.length ? { nextCursor: String(from + pageSize) } : {};
      return Promise.resolve(`{"jsonrpc":"2.0","id":${id},"result":${JSON.stringify({ tools: page, ...next })}}`);
    },
    notification() {},
    response() {},
    closed() {},
  };
}

const peer: SessionPeer = {
  id: 'bench',
  remoteAddress: '127.0.0.1',
  identity: undefined,
  sendText() {},
  notify() {},
  close() {},
};

async function session(servers: number, pageSize: number): Promise<SessionHandler> {
  const fed = new McpWsFederation({
    servers: Object.fromEntries(Array.from({ length: servers }, (_, i) => [`s${i}`, { upstreams: ['ws://127.0.0.1:9/ws'] }])),
    maxListItemsPerServer: 500,
  });
  // The bench measures merging: each server's gateway session is the in-memory stand-in.
  for (const slot of fed.slots) (slot.gateway as { createHandler: (p: SessionPeer) => SessionHandler }).createHandler = () => fakeInner(TOOLS, pageSize);
  const h = fed.createHandler(peer);
  await h.request({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'b', version: '1' } } });
  h.notification({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return h;
}

const cases: Array<{ name: string; servers: number; pageSize: number; cursor: boolean }> = [
  { name: '1 server × 100 tools', servers: 1, pageSize: TOOLS, cursor: false },
  { name: '3 servers × 100 tools', servers: 3, pageSize: TOOLS, cursor: false },
  { name: '3 servers × 100 tools, second page (signed cursor checked)', servers: 3, pageSize: 50, cursor: true },
];

const bench = new Bench({ name: 'federation list merge', time: 1500, warmupTime: 300 });
let sink = 0;
for (const c of cases) {
  const h = await session(c.servers, c.pageSize);
  let cursor: string | undefined;
  if (c.cursor) {
    const first = JSON.parse((await h.request({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} })) as string) as { result: { nextCursor?: string } };
    cursor = first.result.nextCursor;
    if (cursor === undefined) throw new Error('expected a second page');
  }
  const params = cursor === undefined ? {} : { cursor };
  bench.add(c.name, async () => {
    const r = await h.request({ jsonrpc: '2.0', id: 2, method: 'tools/list', params });
    sink += (r as string).length;
  });
}
await bench.run();

const header = ['case', 'ops/s', 'mean µs', 'p99 µs', 'reply bytes'];
const rows: string[][] = [];
for (const [i, task] of bench.tasks.entries()) {
  const r = task.result as { throughput?: { mean: number }; latency?: { mean: number; p99?: number } } | undefined;
  const c = cases[i]!;
  const h = await session(c.servers, c.pageSize);
  const bytes = ((await h.request({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: {} })) as string).length;
  rows.push([c.name, fmt(r?.throughput?.mean ?? 0, 0), fmt((r?.latency?.mean ?? 0) * 1000, 1), fmt((r?.latency?.p99 ?? 0) * 1000, 1), String(bytes)]);
}
const started = new Date();
const md = [
  `# Federation list merge (${started.toISOString()})`,
  '',
  `${nodeInfo()}; load average ${loadAverage()}. In-memory servers; one tools/list through a federated session.`,
  '',
  markdownTable(header, rows, [false, true, true, true, true]),
  '',
].join('\n');
console.log(md);
const dir = fileURLToPath(new URL('../../bench/results', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `${dir}/micro-federation-${stamp(started)}.md`;
writeFileSync(file, md);
console.log(`written ${file}`);
if (sink === 0.5) console.log('');
process.exit(0);
