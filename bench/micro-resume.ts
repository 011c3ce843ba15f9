/**
 * What the SEP-1288 resume wrapper (src/server/resume.ts) adds to one
 * request, in process, without sockets: an initialized native-router
 * session answering `tools/call echo` (a synchronous tool, 200 B of text),
 * called directly (resumeGraceMs 0: the wrapper is left out), through
 * the wrapper (the default), and through the wrapper with a resume store
 * (cross-node resume: the session's state is tracked; tools/call is not a
 * method that changes it, so the store is never written in the loop).
 * Interleaved rounds; each case's best round is kept (noise only slows a
 * run down).
 *
 * Run: npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro-resume.js [--rounds N] [--n N]
 * Prints a Markdown table and writes bench/results/micro-resume-<date>.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { McpRouter } from '../src/router/router.js';
import { SessionResumer } from '../src/server/resume.js';
import { ResumeStore } from '../src/server/resume-store.js';
import { resolveResumeStoreOptions } from '../src/server/resume-store-options.js';
import type { SessionHandler, SessionPeer } from '../src/server/handler.js';
import type { JsonRpcRequest } from '../src/protocol/jsonrpc.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, n: { type: 'string', default: '300000' } } });
const rounds = Number(values.rounds);
const n = Number(values.n);

const router = new McpRouter({ name: 'bench', version: '1' }).tool({ name: 'echo' }, (args) => String(args.text));

/** A socket stand-in: replies are returned, nothing is sent in this loop. */
function peer(id: string): SessionPeer {
  return { id, remoteAddress: '127.0.0.1', identity: undefined, subprotocol: 'mcp', isOpen: true, sendText: () => {}, notify: () => {}, close: () => {} };
}

function initialized(h: SessionHandler): SessionHandler {
  const r = h.request({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'b', version: '1' } } });
  if (typeof r !== 'string' || !r.includes('"result"')) throw new Error(`initialize failed: ${typeof r === "string" ? r : typeof r}`);
  h.notification({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return h;
}

const options = { resumeGraceMs: 30_000, maxDetachedPerIdentity: 8, maxDetachedSessions: 10_000, resumeBufferBytes: 1 << 20 };
const store = new ResumeStore(resolveResumeStoreOptions({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: `mcp-ws-bench:micro-resume:${process.pid}:` }), 30_000);
const cases: Array<{ name: string; handler: SessionHandler }> = [
  { name: 'direct (resumeGraceMs 0)', handler: initialized(new SessionResumer((p) => router.createHandler(p), { ...options, resumeGraceMs: 0 }).factory(peer('a'))) },
  { name: 'through the resume wrapper (default)', handler: initialized(new SessionResumer((p) => router.createHandler(p), options).factory(peer('b'))) },
  // The state's one write (of the initialize) goes out before the loop; tools/call writes nothing.
  { name: 'through the wrapper, with a resume store', handler: initialized(new SessionResumer((p) => router.createHandler(p), options, undefined, store).factory(peer('c'))) },
];

const text = 'x'.repeat(200);
const msgs: JsonRpcRequest[] = Array.from({ length: 1024 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'echo', arguments: { text } } }));

function run(h: SessionHandler): number {
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const r = h.request(msgs[i & 1023]!);
    if (typeof r === 'string') bytes += r.length;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (bytes === 0) throw new Error('no replies');
  return ns / n;
}

await new Promise((r) => setTimeout(r, 200));
await store.close();
const best = cases.map(() => Infinity);
for (let r = 0; r < rounds; r++) {
  cases.forEach((c, i) => {
    best[i] = Math.min(best[i]!, run(c.handler));
  });
}
const base = best[0]!;
const lines = [
  `# SEP-1288 resume wrapper: cost per request, ${new Date().toISOString()}`,
  '',
  `Command: \`node dist-bench/bench/micro-resume.js --rounds ${rounds} --n ${n}\`, Node ${process.version}. In process, no sockets: an initialized native-router session, \`tools/call echo\` with 200 B of text (synchronous tool). Best of ${rounds} interleaved rounds of ${n} calls.`,
  '',
  '| case | ns per request | vs direct |',
  '|---|---:|---:|',
  ...cases.map((c, i) => `| ${c.name} | ${best[i]!.toFixed(0)} | ${i === 0 ? '—' : `${(best[i]! - base >= 0 ? '+' : '')}${(best[i]! - base).toFixed(0)} ns (${(((best[i]! - base) / base) * 100).toFixed(1)} %)`} |`),
  '',
];
const out = lines.join('\n');
process.stdout.write(out);
const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `micro-resume-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z.md`;
writeFileSync(dir + file, out);
process.stdout.write(`wrote bench/results/${file}\n`);
