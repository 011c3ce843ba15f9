/**
 * Client side of the idle-sessions benchmark, run as a child of
 * bench/connections.js: opens its share of sessions (WebSocket handshake,
 * initialize, notifications/initialized) and keeps them idle, answering
 * heartbeat pings (ws does that itself) until told to close.
 *
 * Source addresses rotate over 127.0.0.2–127.0.0.251 so the sessions are not
 * limited by one address's ephemeral ports (about 28,000 on Linux).
 */
import { WebSocket } from 'ws';

/** Parent → client. */
export type ClientCommand = { type: 'open'; url: string; count: number; offset: number; timeoutMs: number } | { type: 'close' };

/** Client → parent. */
export type ClientReport = { type: 'opened'; opened: number; failed: number; error: string | undefined; seconds: number };

const PARALLEL = 200;
const SOURCES = 250;
const INITIALIZE =
  '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcp-ws-bench-idle","version":"0.1.0"}}}';
const INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}';

const sockets: WebSocket[] = [];

function openOne(url: string, localAddress: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['mcp'], { localAddress, perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const timer = setTimeout(() => fail('initialize got no answer in time'), timeoutMs);
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
    ws.once('open', () => ws.send(INITIALIZE));
    ws.once('message', () => {
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.send(INITIALIZED);
      ws.on('error', () => {});
      sockets.push(ws);
      resolve();
    });
  });
}

async function openAll(m: Extract<ClientCommand, { type: 'open' }>): Promise<ClientReport> {
  const t0 = performance.now();
  let next = 0;
  let opened = 0;
  let failed = 0;
  let error: string | undefined;
  const lane = async (): Promise<void> => {
    while (next < m.count) {
      const i = m.offset + next++;
      try {
        await openOne(m.url, `127.0.0.${2 + (i % SOURCES)}`, m.timeoutMs);
        opened++;
      } catch (err) {
        failed++;
        error ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, m.count) }, lane));
  return { type: 'opened', opened, failed, error, seconds: (performance.now() - t0) / 1000 };
}

process.on('message', (m: ClientCommand) => {
  if (m.type === 'open') {
    void openAll(m).then((r) => process.send?.(r));
  } else if (m.type === 'close') {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
