/**
 * Compression micro-benchmark: every codec on realistic ~10 KB MCP messages,
 * beside the seed's published figures (cargo bench compression, "10KB
 * テキスト"; target: at least 2× the seed's MB/s at equal or better ratio),
 * then where async compression starts to pay (the defaults of
 * `inlineMaxBytes` and `inlineDecodeMaxBytes`).
 *
 * Corpus: 4 kinds × 64 messages of 10 KiB, each built from different real
 * files under node_modules (no file is used twice, nothing is repeated to
 * fill a message):
 *   tools/list      tools made from JSDoc'd declarations in .d.ts files
 *   resources/read  Markdown files as text/markdown resources
 *   source          tools/call results carrying JavaScript sources
 *   json            tools/call results carrying records of JSON files as JSON text
 *
 * Throughput is MB/s of uncompressed bytes (compress: input; decompress:
 * output), one message per call through the codec layer as the session uses
 * it (decompression capped at 4 MiB), on one core. It is taken over process
 * CPU time (wall time beside it for compression), so other load on a shared
 * machine shows less; the best of several interleaved rounds is reported.
 *
 * Run alone (from the repository root):
 *   npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro-compression.js
 * Options: --rounds N (default 5), --time MS per measurement (default 400),
 *          --only throughput|crossover
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  DEFAULT_INLINE_DECODE_MAX_BYTES,
  DEFAULT_INLINE_MAX_BYTES,
  createCodec,
  defaultCodecConcurrency,
  zstdEngineName,
  type Codec,
  type CodecName,
} from '../src/compression/index.js';
import { markdownTable } from './lib/markdown.js';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, time: { type: 'string', default: '400' }, only: { type: 'string' } },
  strict: true,
});
const ROUNDS = Number(args.rounds);
const MIN_MS = Number(args.time);
const ONLY = args.only;
if (ONLY !== undefined && ONLY !== 'throughput' && ONLY !== 'crossover') throw new Error(`--only should be throughput or crossover, got ${ONLY}`);
const MESSAGE_BYTES = 10 * 1024;
const PER_KIND = 64;
const CAP = 4 * 1024 * 1024;

// ------------------------------------------------------------------ corpus

/** node_modules of the repository, found through a package every install has (works from any build directory). */
const NODE_MODULES = `${dirname(dirname(createRequire(import.meta.url).resolve('ws/package.json')))}/`;

/** Every file under node_modules, sorted, so the corpus is the same on every run with the same lockfile. */
function walk(dir: string, out: string[], depth = 0): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (depth < 10 && e.name !== '.cache' && e.name !== 'build') walk(p, out, depth + 1);
    } else if (e.isFile()) out.push(p);
  }
  return out;
}

const seen = new Set<string>();
/** File text, once per distinct content. */
function readOnce(path: string): string | undefined {
  const text = readFileSync(path, 'utf8');
  const h = createHash('sha1').update(text).digest('hex');
  if (seen.has(h)) return undefined;
  seen.add(h);
  return text;
}

function envelope(id: number, result: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, result });
}

/** A response around `text` of exactly MESSAGE_BYTES (escapes grow JSON, so the text is trimmed to fit). */
function fit(id: number, wrap: (t: string) => unknown, text: string): Buffer {
  let t = text.slice(0, MESSAGE_BYTES);
  let b = Buffer.from(envelope(id, wrap(t)));
  while (b.length > MESSAGE_BYTES) {
    t = t.slice(0, t.length - Math.max(1, Math.ceil((b.length - MESSAGE_BYTES) / 2)));
    b = Buffer.from(envelope(id, wrap(t)));
  }
  return b;
}

interface Message {
  kind: string;
  data: Buffer;
}

function buildCorpus(): Message[] {
  const files = walk(NODE_MODULES, []);
  const out: Message[] = [];
  let id = 1;

  // tools/list: one tool per JSDoc'd function or method declaration.
  const decl = /\/\*\*((?:[^*]|\*(?!\/))*)\*\/\s*(?:export\s+)?(?:declare\s+)?(?:function\s+)?(\w+)\s*(?:<[^>()]*>)?\(([^()]*)\)/g;
  let tools: unknown[] = [];
  let listed = 0;
  for (const f of files) {
    if (listed >= PER_KIND) break;
    if (!f.endsWith('.d.ts')) continue;
    const text = readOnce(f);
    if (text === undefined) continue;
    for (const m of text.matchAll(decl)) {
      const description = m[1]!.replace(/^\s*\*\s?/gm, '').trim();
      if (description.length < 20) continue;
      const params = m[3]!
        .split(',')
        .map((p) => /^\s*(?:\.\.\.)?(\w+)\??\s*:\s*([^,]*)/.exec(p))
        .filter((p): p is RegExpExecArray => p !== null);
      const tool = {
        name: m[2],
        description,
        inputSchema: {
          type: 'object',
          properties: Object.fromEntries(params.map((p) => [p[1], { type: /number/.test(p[2]!) ? 'number' : /boolean/.test(p[2]!) ? 'boolean' : 'string', description: p[2]!.trim() }])),
          required: params.filter((p) => !p[0].includes('?')).map((p) => p[1]),
        },
      };
      const next = Buffer.from(envelope(id, { tools: [...tools, tool] }));
      if (next.length > MESSAGE_BYTES && tools.length > 0) {
        out.push({ kind: 'tools/list', data: Buffer.from(envelope(id++, { tools })) });
        listed++;
        tools = [];
        if (listed >= PER_KIND) break;
      }
      tools.push(tool);
    }
  }

  const take = (kind: string, match: (f: string) => boolean, minBytes: number, wrap: (f: string, t: string) => unknown): void => {
    let n = 0;
    for (const f of files) {
      if (n >= PER_KIND) return;
      if (!match(f)) continue;
      if (statSync(f).size < minBytes) continue;
      const text = readOnce(f);
      if (text === undefined) continue;
      out.push({ kind, data: fit(id++, (t) => wrap(f, t), text) });
      n++;
    }
  };
  take('resources/read', (f) => /\.md$/i.test(f), MESSAGE_BYTES, (f, t) => ({
    contents: [{ uri: `file:///${f.slice(NODE_MODULES.length)}`, mimeType: 'text/markdown', text: t }],
  }));
  take('source', (f) => f.endsWith('.js') && !f.includes('.min.'), 2 * MESSAGE_BYTES, (_, t) => ({
    content: [{ type: 'text', text: t }],
    isError: false,
  }));

  // json: records from JSON files (package.json, schemas, data tables), several per message, as a tool's JSON text.
  let batch: unknown[] = [];
  let n = 0;
  for (const f of files) {
    if (n >= PER_KIND) break;
    if (!f.endsWith('.json')) continue;
    const text = readOnce(f);
    if (text === undefined) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      continue;
    }
    const records = Array.isArray(value)
      ? value.map((v: unknown, i) => ({ file: f.slice(NODE_MODULES.length), index: i, value: v }))
      : typeof value === 'object' && value !== null
        ? Object.entries(value as Record<string, unknown>).map(([key, v]) => ({ file: f.slice(NODE_MODULES.length), key, value: v }))
        : [];
    for (const r of records) {
      const size = JSON.stringify(r).length;
      if (size > MESSAGE_BYTES / 2) continue;
      batch.push(r);
      const json = JSON.stringify(batch);
      if (json.length >= MESSAGE_BYTES) {
        out.push({ kind: 'json', data: fit(id++, (t) => ({ content: [{ type: 'text', text: t }], isError: false }), json) });
        batch = [];
        if (++n >= PER_KIND) break;
      }
    }
  }
  return out;
}

// ------------------------------------------------------------ measurement

/** Runs `fn` over `inputs` for at least `minMs`; returns bytes (of `count(input)`) per CPU second and per wall second. */
function measure(fn: (b: Buffer) => unknown, inputs: Buffer[], count: (i: number) => number, minMs = MIN_MS): { cpu: number; wall: number } {
  let bytes = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  do {
    for (let i = 0; i < inputs.length; i++) {
      fn(inputs[i]!);
      bytes += count(i);
    }
  } while (performance.now() - t0 < minMs);
  const c = process.cpuUsage(c0);
  const wall = (performance.now() - t0) / 1000;
  return { cpu: bytes / ((c.user + c.system) / 1e6), wall: bytes / wall };
}

const MB = 1e6;
const mbs = (n: number): string => (n / MB).toFixed(0);

interface Config {
  label: string;
  name: CodecName;
  level: number;
  seed?: { compress: number; ratio: number };
  seedDecompress?: number;
}

const CONFIGS: Config[] = [
  { label: 'gzip-1', name: 'gzip', level: 1, seed: { compress: 89, ratio: 2.1 }, seedDecompress: 312 },
  { label: 'gzip-6', name: 'gzip', level: 6, seed: { compress: 42, ratio: 2.8 }, seedDecompress: 312 },
  { label: 'gzip-9', name: 'gzip', level: 9, seed: { compress: 18, ratio: 2.9 }, seedDecompress: 312 },
  { label: 'deflate-6', name: 'deflate', level: 6 },
  { label: 'brotli-4', name: 'br', level: 4, seed: { compress: 28, ratio: 3.2 }, seedDecompress: 198 },
  { label: 'zstd-1', name: 'zstd', level: 1, seedDecompress: 421 },
  { label: 'zstd-3', name: 'zstd', level: 3, seed: { compress: 156, ratio: 2.9 }, seedDecompress: 421 },
  // A fast level, for the "at equal or better ratio" comparison below.
  { label: 'zstd -1', name: 'zstd', level: -1, seedDecompress: 421 },
];

interface Result {
  compress: number;
  compressWall: number;
  decompress: number;
  ratio: number;
}

function throughput(corpus: Message[]): Map<string, Result> {
  const inputs = corpus.map((m) => m.data);
  const total = inputs.reduce((a, b) => a + b.length, 0);
  const codecs = CONFIGS.map((c) => createCodec(c.name, c.level));
  const compressed = codecs.map((codec) => inputs.map((b) => codec.compressSync(b)));
  // Correctness first: every message round-trips through the capped path.
  codecs.forEach((codec, k) => {
    compressed[k]!.forEach((c, i) => {
      if (!codec.decompressSync(c, CAP).equals(inputs[i]!)) throw new Error(`${CONFIGS[k]!.label}: round trip failed`);
    });
  });
  const best = new Map<string, Result>();
  for (let round = 0; round < ROUNDS; round++) {
    codecs.forEach((codec, k) => {
      const label = CONFIGS[k]!.label;
      const comp = compressed[k]!;
      const c = measure((b) => codec.compressSync(b), inputs, (i) => inputs[i]!.length);
      const d = measure((b) => codec.decompressSync(b, CAP), comp, (i) => inputs[i]!.length);
      const ratio = total / comp.reduce((a, b) => a + b.length, 0);
      const prev = best.get(label);
      best.set(label, {
        compress: Math.max(prev?.compress ?? 0, c.cpu),
        compressWall: Math.max(prev?.compressWall ?? 0, c.wall),
        decompress: Math.max(prev?.decompress ?? 0, d.cpu),
        ratio,
      });
    });
  }
  return best;
}

function verdict(ours: number, seed: number | undefined): string {
  if (seed === undefined) return '—';
  const x = ours / MB / seed;
  return `${x.toFixed(2)}× ${x >= 2 ? 'met' : 'MISSED'}`;
}

// -------------------------------------------------------------- crossover

const SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024].map((k) => k * 1024);
/** As many in flight as WireCodec's shared limiter allows. */
const IN_FLIGHT = defaultCodecConcurrency();

/** Messages of `size` bytes cut from the corpus (distinct slices). */
function messagesOf(corpus: Message[], size: number, count: number): Buffer[] {
  const all = Buffer.concat(corpus.map((m) => m.data));
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const at = (i * size) % Math.max(1, all.length - size);
    out.push(Buffer.from(all.subarray(at, at + size)));
  }
  return out;
}

/** CPU time of the calling (main) thread, µs: /proc/thread-self/schedstat on Linux, else the process's CPU time. */
function mainThreadCpuUs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1000;
  } catch {
    const u = process.cpuUsage();
    return u.user + u.system;
  }
}

function processCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

interface Crossover {
  size: number;
  /** Mean size of the input: the message, or for decompression the compressed message. */
  inputBytes: number;
  /** Inline: CPU µs per message, all on the loop (the loop is blocked that long per message). */
  inlineUs: number;
  /** Async: main-thread (loop) CPU µs per message. */
  asyncLoopUs: number;
  /** Async: CPU µs per message on all threads (loop + pool/worker). */
  asyncTotalUs: number;
  /** Async: median wall time from call to result, µs (includes queueing behind IN_FLIGHT - 1 others). */
  asyncLatencyUs: number;
}

/**
 * CPU time per message, inline and async (IN_FLIGHT outstanding, as the
 * session's limiter allows). CPU time rather than wall time: on a shared
 * machine it is what stays stable, and it is what decides the question.
 * Inline, every microsecond is spent on the event loop; async, the loop pays
 * only the hand-off and the pool or worker thread the rest, on the other
 * core.
 */
async function crossover(codec: Codec, corpus: Message[], op: 'compress' | 'decompress'): Promise<Crossover[]> {
  const rows: Crossover[] = [];
  for (const size of SIZES) {
    const count = Math.max(8, Math.min(256, Math.floor((2 * 1024 * 1024) / size)));
    const raw = messagesOf(corpus, size, count);
    const inputs = op === 'compress' ? raw : raw.map((b) => codec.compressSync(b));
    const sync = op === 'compress' ? (b: Buffer) => codec.compressSync(b) : (b: Buffer) => codec.decompressSync(b, CAP);
    const async = op === 'compress' ? (b: Buffer) => codec.compress(b) : (b: Buffer) => codec.decompress(b, CAP);
    const row: Crossover = { size, inputBytes: inputs.reduce((a, b) => a + b.length, 0) / count, inlineUs: Infinity, asyncLoopUs: Infinity, asyncTotalUs: Infinity, asyncLatencyUs: Infinity };
    // Batches of at least MIN_MS: the thread CPU clock advances in scheduler ticks.
    for (let round = 0; round < Math.max(3, ROUNDS); round++) {
      let n = 0;
      let m0 = mainThreadCpuUs();
      let t0 = performance.now();
      do {
        for (const b of inputs) sync(b);
        n += count;
      } while (performance.now() - t0 < MIN_MS);
      row.inlineUs = Math.min(row.inlineUs, (mainThreadCpuUs() - m0) / n);

      n = 0;
      m0 = mainThreadCpuUs();
      const p0 = processCpuUs();
      const lat: number[] = [];
      t0 = performance.now();
      do {
        let next = 0;
        await Promise.all(
          Array.from({ length: IN_FLIGHT }, async () => {
            while (next < inputs.length) {
              const b = inputs[next++]!;
              const s = performance.now();
              await async(b);
              lat.push(performance.now() - s);
            }
          }),
        );
        n += count;
      } while (performance.now() - t0 < MIN_MS);
      row.asyncLoopUs = Math.min(row.asyncLoopUs, (mainThreadCpuUs() - m0) / n);
      row.asyncTotalUs = Math.min(row.asyncTotalUs, (processCpuUs() - p0) / n);
      lat.sort((x, y) => x - y);
      row.asyncLatencyUs = Math.min(row.asyncLatencyUs, 1000 * lat[Math.floor(lat.length / 2)]!);
    }
    rows.push(row);
  }
  return rows;
}

/** Loop time below which a stall is not worth a thread hop: 4 % of the 5 ms p99 target. */
const STALL_FLOOR_US = 200;

/**
 * Async pays at a size when compressing inline would stall the loop for at
 * least STALL_FLOOR_US, and the loop time it frees is at least the CPU it
 * adds elsewhere (inline − async loop ≥ async total − inline): a process
 * whose event loop is the bottleneck then serves more. Below the floor the
 * stall is noise next to the p99 target and the hop only delays the message
 * itself.
 */
const asyncPays = (r: Crossover): boolean =>
  r.inlineUs >= STALL_FLOOR_US && r.inlineUs - r.asyncLoopUs >= r.asyncTotalUs - r.inlineUs;

/**
 * Smallest size from which async pays at every larger size, one exception
 * allowed (a single noisy row on a shared machine should not move the line).
 */
function crossoverSize(rows: Crossover[]): number | undefined {
  let at: number | undefined;
  let misses = 0;
  for (let i = rows.length - 1; i >= 0; i--) {
    if (!asyncPays(rows[i]!) && ++misses > 1) break;
    if (asyncPays(rows[i]!)) at = rows[i]!.size;
  }
  return at;
}

// -------------------------------------------------------------------- main

const corpus = buildCorpus();
const kinds = new Map<string, number>();
for (const m of corpus) kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
const totalBytes = corpus.reduce((a, m) => a + m.data.length, 0);
console.log(
  `compression micro-benchmark — node ${process.version}, zstd engine ${zstdEngineName() ?? 'none'}, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.log(
  `corpus: ${corpus.length} messages of ${MESSAGE_BYTES} B (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}), ${(totalBytes / MB).toFixed(2)} MB; best of ${ROUNDS} rounds, MB/s per CPU second\n`,
);

if (ONLY !== 'crossover') {
  const results = throughput(corpus);
  const rows = CONFIGS.map((c) => {
    const r = results.get(c.label)!;
    return [
      c.label,
      mbs(r.compress),
      mbs(r.compressWall),
      c.seed ? `${c.seed.compress}` : '—',
      verdict(r.compress, c.seed?.compress),
      r.ratio.toFixed(2),
      c.seed ? c.seed.ratio.toFixed(1) : '—',
      mbs(r.decompress),
      c.seedDecompress !== undefined ? `${c.seedDecompress}` : '—',
      verdict(r.decompress, c.seedDecompress),
    ];
  });
  console.log('## Throughput, 10 KiB MCP messages, one message per call\n');
  console.log(
    markdownTable(
      ['codec', 'compress MB/s', '(wall)', 'seed', 'vs seed, target 2×', 'ratio', 'seed ratio', 'decompress MB/s', 'seed', 'vs seed, target 2×'],
      rows,
      [false, true, true, true, false, true, true, true, true, false],
    ),
  );

  // The target is "2× the seed's MB/s at equal or better ratio": for each seed row, the fastest codec here whose ratio is at least the seed's.
  console.log('\n## Each seed row against the fastest codec here with at least its ratio\n');
  const eq = CONFIGS.filter((c) => c.seed).map((c) => {
    const candidates = CONFIGS.filter((o) => results.get(o.label)!.ratio >= c.seed!.ratio);
    const fastest = candidates.sort((a, b) => results.get(b.label)!.compress - results.get(a.label)!.compress)[0];
    const r = fastest ? results.get(fastest.label)! : undefined;
    return [
      `${c.label} (${c.seed!.compress} MB/s, ${c.seed!.ratio}×)`,
      fastest?.label ?? '—',
      r ? mbs(r.compress) : '—',
      r ? r.ratio.toFixed(2) : '—',
      r ? verdict(r.compress, c.seed!.compress) : '—',
    ];
  });
  console.log(markdownTable(['seed row', 'fastest here at ≥ its ratio', 'MB/s', 'ratio', 'vs seed, target 2×'], eq, [false, false, true, true, false]));
}

if (ONLY !== 'throughput') {
  console.log(`\n## Inline vs async (${IN_FLIGHT} in flight), by message size — CPU µs per message (best of rounds)\n`);
  console.log(`Async pays when inline would hold the loop ≥ ${STALL_FLOOR_US} µs and the loop time it frees is at least the CPU it adds elsewhere: inline − async loop ≥ async total − inline.\n`);
  const chosen: Array<[string, number | undefined, number | undefined, number]> = [];
  for (const [label, name, level] of [
    ['zstd-3', 'zstd', 3],
    ['gzip-6', 'gzip', 6],
    ['brotli-4', 'br', 4],
  ] as const) {
    const codec = createCodec(name, level);
    for (const op of ['compress', 'decompress'] as const) {
      const cross = await crossover(codec, corpus, op);
      const at = crossoverSize(cross);
      const def = op === 'compress' ? DEFAULT_INLINE_MAX_BYTES[name] : DEFAULT_INLINE_DECODE_MAX_BYTES[name];
      chosen.push([`${label} ${op}`, at, cross.find((r) => r.size === at)?.inputBytes, def]);
      console.log(`### ${label} ${op}${op === 'decompress' ? ' (size: the decompressed message)' : ''}${at === undefined ? `: async never pays up to ${SIZES.at(-1)! / 1024} KiB` : `: async pays from ${at / 1024} KiB`}\n`);
      console.log(
        markdownTable(
          ['size', 'inline µs/msg (all on the loop)', 'async loop µs/msg', 'async total CPU µs/msg', 'async latency µs (median)', 'async pays?'],
          cross.map((r) => [
            `${r.size / 1024} KiB`,
            r.inlineUs.toFixed(0),
            r.asyncLoopUs.toFixed(0),
            r.asyncTotalUs.toFixed(0),
            r.asyncLatencyUs.toFixed(0),
            asyncPays(r) ? 'yes' : 'no',
          ]),
          [false, true, true, true, true, false],
        ),
      );
      console.log('');
    }
  }
  console.log('## Crossovers, and the defaults set from them\n');
  console.log(
    markdownTable(
      ['codec / op', 'async pays from', 'input there', 'default inline line'],
      chosen.map(([k, v, input, def]) => [k, v === undefined ? `> ${SIZES.at(-1)! / 1024} KiB` : `${v / 1024} KiB`, input === undefined ? '—' : `${(input / 1024).toFixed(0)} KiB`, `${def / 1024} KiB`]),
    ),
  );
  console.log('\n(input: the message for compress, the compressed message for decompress; the defaults are inlineMaxBytes and inlineDecodeMaxBytes)');
}
