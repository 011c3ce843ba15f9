/**
 * `npm run bench -- --suite handshake`: sessions opened and initialized per
 * second (bench/handshake.ts, --parallel openers, default 20), against the
 * raw ws floor and mcp-ws native with
 *   hs-raw     bench/targets/raw-ws.ts: a bare ws server answering initialize (no MCP, no auth)
 *   hs-none    no auth
 *   hs-token   a static bearer token
 *   hs-hs256   JWT, HS256 (shared secret)
 *   hs-es256   JWT, ES256 (public key)
 * Tokens are signed with jose here, before any measuring (64 of each, with
 * different subjects, used in turn). Rounds interleave the servers; each row
 * is the best round; each round starts one server further along.
 */
import { randomBytes } from 'node:crypto';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { runHandshakes, type HandshakeResult } from '../handshake.js';
import { fmt, markdownTable } from '../lib/markdown.js';
import { loadAverage, nodeInfo, perCore, timing, writeResults, type Suite, type SuiteArgs, type SuiteContext } from '../lib/suite.js';
import { CpuWindow, TargetProcess } from '../lib/target-process.js';

const TOKENS = 64;

interface HsTarget {
  key: string;
  label: string;
  script: string;
  env: Record<string, string>;
  tokens: string[];
}

const TARGETS = [
  { key: 'hs-raw', label: 'raw ws floor (no MCP)' },
  { key: 'hs-none', label: 'no auth' },
  { key: 'hs-token', label: 'static bearer token' },
  { key: 'hs-hs256', label: 'JWT HS256' },
  { key: 'hs-es256', label: 'JWT ES256' },
];

async function prepare(keys: string[]): Promise<HsTarget[]> {
  const out: HsTarget[] = [];
  const sign = async (alg: string, key: Parameters<SignJWT['sign']>[0]): Promise<string[]> =>
    Promise.all(
      Array.from({ length: TOKENS }, (_, i) =>
        new SignJWT({ scope: 'tools' }).setProtectedHeader({ alg }).setSubject(`bench-${i}`).setIssuedAt().setExpirationTime('2h').sign(key),
      ),
    );
  for (const k of keys) {
    const label = TARGETS.find((t) => t.key === k)!.label;
    if (k === 'hs-raw') out.push({ key: k, label, script: '../targets/raw-ws.js', env: {}, tokens: [] });
    else if (k === 'hs-none') out.push({ key: k, label, script: '../targets/native.js', env: {}, tokens: [] });
    else if (k === 'hs-token') {
      const token = randomBytes(24).toString('hex');
      out.push({ key: k, label, script: '../targets/native-features.js', env: { FEATURE: 'auth-token', BENCH_TOKEN: token }, tokens: [token] });
    } else if (k === 'hs-hs256') {
      const secret = randomBytes(32).toString('hex');
      const tokens = await sign('HS256', new TextEncoder().encode(secret));
      out.push({ key: k, label, script: '../targets/native-features.js', env: { FEATURE: 'auth-hs256', BENCH_JWT_SECRET: secret }, tokens });
    } else if (k === 'hs-es256') {
      const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
      const tokens = await sign('ES256', privateKey);
      out.push({
        key: k,
        label,
        script: '../targets/native-features.js',
        env: { FEATURE: 'auth-es256', BENCH_JWT_PUBLIC_KEY: await exportSPKI(publicKey) },
        tokens,
      });
    }
  }
  return out;
}

interface HsRun extends HandshakeResult {
  target: string;
  round: number;
  serverCpu: number;
}

async function run(args: SuiteArgs, ctx: SuiteContext): Promise<void> {
  const t = timing(args, { rounds: 3, duration: 3, warmup: 1 });
  const targets = await prepare(args.targets);
  const started = new Date();
  const load0 = loadAverage();
  process.stderr.write(`handshake: ${targets.map((x) => x.key).join(', ')}; ${args.parallel} openers; ${t.rounds} round(s) of ${t.duration} s after ${t.warmup} s warm-up\n`);
  const procs = new Map<string, TargetProcess>();
  const runs: HsRun[] = [];
  try {
    for (const x of targets) procs.set(x.key, await TargetProcess.start(x.key, new URL(x.script, import.meta.url), { env: x.env }));
    for (let round = 1; round <= t.rounds; round++) {
      if (t.rounds > 1) process.stderr.write(` round ${round}/${t.rounds}\n`);
      for (let j = 0; j < targets.length; j++) {
        const x = targets[(j + round - 1) % targets.length]!; // each round starts one server further along
        const p = procs.get(x.key)!;
        const cpu = new CpuWindow(p);
        const headers = x.tokens.length === 0 ? undefined : (i: number) => ({ Authorization: `Bearer ${x.tokens[i % x.tokens.length]!}` });
        const r = await runHandshakes(
          { url: p.url, parallel: args.parallel, durationSeconds: t.duration, warmupSeconds: t.warmup, ...(headers ? { headers } : {}) },
          { onMeasureStart: () => cpu.begin(), onMeasureEnd: () => cpu.end() },
        );
        process.stderr.write(
          `  ${x.label.padEnd(20)} ${fmt(r.rate).padStart(7)} handshakes/s  p99 ${fmt(r.latencyMs.p99)} ms  server ${fmt(cpu.percent, 0)} %  generator ${fmt(r.generatorCpuPercent, 0)} %` +
            `${r.failed > 0 ? `  failed ${r.failed} (${r.firstError})` : ''}\n`,
        );
        runs.push({ ...r, target: x.key, round, serverCpu: cpu.percent });
      }
    }
    const best = (k: string): HsRun => runs.filter((r) => r.target === k).reduce((b, r) => (r.rate > b.rate ? r : b));
    const bestCore = (k: string): number => Math.max(0, ...runs.filter((r) => r.target === k).map((r) => perCore(r.rate, r.serverCpu)));
    const base = targets.some((x) => x.key === 'hs-none') ? best('hs-none') : undefined;
    const baseCore = base ? bestCore('hs-none') : 0;
    const lines: string[] = [];
    lines.push(`# mcp-ws handshake rate, ${started.toISOString()}`, '');
    lines.push(`Command: \`${ctx.command}\``, '');
    lines.push(
      `${nodeInfo()}. Loopback; each server (mcp-ws native with the demo router; the raw ws floor) in its own process; "× no auth" compares with mcp-ws native without auth. ${args.parallel} openers in the benchmark process, each in turn: ` +
        'TCP connect, WebSocket upgrade (with `Authorization: Bearer …` where auth is on), `initialize` answered, `notifications/initialized`, close 1000 (not awaited). ' +
        `${t.duration} s measured after ${t.warmup} s warm-up, ${t.rounds} round(s) interleaving the servers, best round shown. CPU % is of one core. ` +
        `Load average (1, 5, 15 min) at the start: ${load0}; at the end: ${loadAverage()}.`,
      '',
      markdownTable(
        [
          'auth',
          'handshakes/s (best round)',
          'p50 ms',
          'p99 ms',
          'server CPU %',
          'generator CPU %',
          'handshakes/s per server core (best round)',
          '× no auth',
          '× no auth per core',
          'failed (all rounds)',
        ],
        targets.map((x) => {
          const b = best(x.key);
          const core = bestCore(x.key);
          return [
            x.label,
            fmt(b.rate),
            fmt(b.latencyMs.p50),
            fmt(b.latencyMs.p99),
            fmt(b.serverCpu, 0),
            fmt(b.generatorCpuPercent, 0),
            fmt(core),
            base && base.rate > 0 ? fmt(b.rate / base.rate) : '—',
            baseCore > 0 ? fmt(core / baseCore) : '—',
            runs.filter((r) => r.target === x.key).reduce((n, r) => n + r.failed, 0),
          ];
        }),
        [false, true, true, true, true, true, true, true, true, true],
      ),
      '',
    );
    const firstErrors = [...new Set(runs.map((r) => r.firstError).filter((e): e is string => e !== undefined))];
    if (firstErrors.length > 0) lines.push(`First errors seen: ${firstErrors.map((e) => `\`${e}\``).join(', ')}.`, '');
    writeResults(ctx, 'handshake', started, lines.join('\n'), { started: started.toISOString(), command: ctx.command, node: process.version, timing: t, parallel: args.parallel, runs });
  } finally {
    await Promise.all([...procs.values()].map((p) => p.stop()));
  }
}

export const handshakeSuite: Suite = {
  name: 'handshake',
  title: 'sessions opened + initialized per second, by auth method',
  targets: TARGETS,
  run,
};
