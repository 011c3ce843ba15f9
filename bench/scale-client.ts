/**
 * One generator process of bench/scale.ts: opens its share of sessions
 * (TCP connect, WebSocket upgrade, `initialize` answered,
 * `notifications/initialized`), timing each handshake, then keeps them idle
 * (ws answers heartbeat pings itself) and, when told, drives a fraction of
 * them at a fixed rate of `tools/call echo` for a bounded time, open loop:
 * each request's latency runs from its intended send time, so a generator
 * or server that falls behind shows as latency, not as fewer requests.
 *
 * Source addresses rotate over 127.0.0.<first>…<first + sources − 1> so no
 * source runs out of ephemeral ports (about 28,000 per address on Linux).
 */
import { WebSocket } from 'ws';

/** Parent → generator. */
export type ScaleCommand =
  | { type: 'open'; url: string; count: number; offset: number; parallel: number; timeoutMs: number; firstSource: number; sources: number; stopAt: number }
  | { type: 'active'; every: number; ratePerSession: number; seconds: number; drainMs: number }
  | { type: 'close' };

/** Generator → parent. */
export type ScaleReport =
  | {
      type: 'opened';
      opened: number;
      failed: number;
      error: string | undefined;
      /** Date.now() of the first attempt and of the last answer. */
      startedAt: number;
      endedAt: number;
      /** Per opened session: ms to the upgrade's 101, and to the initialize answer. */
      upgradeMs: number[];
      initializeMs: number[];
    }
  | {
      type: 'active';
      sessions: number;
      sent: number;
      answered: number;
      errors: number;
      unanswered: number;
      /** Latency from the intended send time, ms, one per answer. */
      latencyMs: number[];
      /** How late sends left after their intended time, ms (generator lag), p99. */
      sendLagP99Ms: number;
      closedDuring: number;
      /** Sessions of this generator still open when the phase ended (idle ones included). */
      stillOpen: number;
    };

const INITIALIZE =
  '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcp-ws-bench-scale","version":"0.1.0"}}}';
const INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}';
/** Hard bound on samples one generator keeps for a phase. */
const MAX_SAMPLES = 2_000_000;

const sockets: WebSocket[] = [];

function openOne(url: string, localAddress: string, timeoutMs: number, upgrade: number[], init: number[]): Promise<void> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['mcp'], { localAddress, perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const timer = setTimeout(() => fail('initialize got no answer in time'), timeoutMs);
    let opened = 0;
    function fail(why: string): void {
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      reject(new Error(why));
    }
    ws.once('error', (err) => fail(err.message));
    ws.once('unexpected-response', (_req, res) => fail(`HTTP ${res.statusCode}`));
    ws.once('close', (code) => fail(`closed during initialize (${code})`));
    ws.once('open', () => {
      opened = performance.now();
      ws.send(INITIALIZE);
    });
    ws.once('message', () => {
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.send(INITIALIZED);
      ws.on('error', () => {});
      const t = performance.now();
      upgrade.push(opened - t0);
      init.push(t - t0);
      sockets.push(ws);
      resolve();
    });
  });
}

async function openAll(m: Extract<ScaleCommand, { type: 'open' }>): Promise<ScaleReport> {
  const startedAt = Date.now();
  const upgradeMs: number[] = [];
  const initializeMs: number[] = [];
  let next = 0;
  let failed = 0;
  let error: string | undefined;
  const lane = async (): Promise<void> => {
    // No new handshake starts after stopAt (Date.now() ms): the storm is bounded in time as well as count.
    while (next < m.count && Date.now() < m.stopAt) {
      const i = m.offset + next++;
      try {
        await openOne(m.url, `127.0.0.${m.firstSource + (i % m.sources)}`, m.timeoutMs, upgradeMs, initializeMs);
      } catch (err) {
        failed++;
        error ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(m.parallel, m.count) }, lane));
  return { type: 'opened', opened: sockets.length, failed, error, startedAt, endedAt: Date.now(), upgradeMs, initializeMs };
}

/** Drives every `every`-th session at `ratePerSession` requests/s for `seconds`, open loop. */
async function drive(m: Extract<ScaleCommand, { type: 'active' }>): Promise<ScaleReport> {
  const active = sockets.filter((_, i) => i % m.every === 0);
  const periodMs = 1000 / m.ratePerSession;
  const due = new Float64Array(active.length);
  const sentAt = new Map<number, number>();
  const latencyMs: number[] = [];
  const lags: number[] = [];
  let id = 1;
  let sent = 0;
  let answered = 0;
  let errors = 0;
  let closedDuring = 0;
  const t0 = performance.now();
  const end = t0 + m.seconds * 1000;
  // Spread the sessions' phases over one period so the load is smooth.
  for (let i = 0; i < active.length; i++) due[i] = t0 + (periodMs * i) / Math.max(1, active.length);
  const onMessage = (data: Buffer): void => {
    const text = data.toString();
    const match = /"id":(\d+)/.exec(text);
    if (match === null) return;
    const at = sentAt.get(Number(match[1]));
    if (at === undefined) return;
    sentAt.delete(Number(match[1]));
    answered++;
    if (text.includes('"error"')) errors++;
    if (latencyMs.length < MAX_SAMPLES) latencyMs.push(performance.now() - at);
  };
  const onClose = (): void => {
    closedDuring++;
  };
  for (const ws of active) {
    ws.on('message', onMessage);
    ws.once('close', onClose);
  }
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      if (now >= end) {
        clearInterval(timer);
        resolve();
        return;
      }
      for (let i = 0; i < active.length; i++) {
        const ws = active[i]!;
        while (due[i]! <= now && due[i]! < end) {
          if (ws.readyState === WebSocket.OPEN) {
            const n = id++;
            sentAt.set(n, due[i]!);
            ws.send(`{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"echo","arguments":{"text":"scale"}}}`);
            sent++;
            if (lags.length < MAX_SAMPLES) lags.push(now - due[i]!);
          }
          due[i]! += periodMs;
        }
      }
    };
    const timer = setInterval(tick, 2);
  });
  // Answers still on their way get a bounded time to arrive.
  const drainEnd = performance.now() + m.drainMs;
  while (sentAt.size > 0 && performance.now() < drainEnd) await new Promise((r) => setTimeout(r, 20));
  for (const ws of active) {
    ws.removeListener('message', onMessage);
    ws.removeListener('close', onClose);
  }
  lags.sort((a, b) => a - b);
  return {
    type: 'active',
    sessions: active.length,
    sent,
    answered,
    errors,
    unanswered: sentAt.size,
    latencyMs,
    sendLagP99Ms: lags.length > 0 ? lags[Math.min(lags.length - 1, Math.floor(lags.length * 0.99))]! : 0,
    closedDuring,
    stillOpen: sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length,
  };
}

process.on('message', (m: ScaleCommand) => {
  if (m.type === 'open') void openAll(m).then((r) => process.send?.(r));
  else if (m.type === 'active') void drive(m).then((r) => process.send?.(r));
  else if (m.type === 'close') {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
