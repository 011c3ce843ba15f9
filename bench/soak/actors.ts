/**
 * The soak's actors. Each runs in a loop bounded by its phase's deadline and
 * by a cycle cap, and counts what happened to it by outcome name (close
 * codes, HTTP statuses, error codes), so the report can say what the server
 * did to every kind of peer.
 */
import type { Socket } from 'node:net';
import hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { OpenError, RpcClient, type Endpoint, type Reply } from './rpc-client.js';
import { awaitClose, frame, FrameReader, jsonFrame, openTcp, upgrade, upgradeRequest, type RawTarget } from './raw-ws.js';

/** Most cycles any actor runs, whatever the duration: every loop is bounded in count as well as time. */
export const MAX_CYCLES = 1_000_000;
/** A well-behaved request unanswered this long is lost (generous: the machine may be shared). */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Opening a session (upgrade and initialize) may take this long; a gateway session starts a process. */
export const OPEN_TIMEOUT_MS = 30_000;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Outcome counts of one actor. */
export class Outcomes {
  cycles = 0;
  readonly counts: Record<string, number> = {};
  add(outcome: string, n = 1): void {
    this.counts[outcome] = (this.counts[outcome] ?? 0) + n;
  }
}

/** Where the actors aim: one served target (server or gateway). */
export interface Target {
  name: 'server' | 'gateway';
  ws: Endpoint;
  raw: RawTarget;
  /** Close codes a well-behaved client may see mid-run and reconnect after (the gateway's 4003 when an upstream dies). */
  expectedCloses: ReadonlySet<number>;
}

function outcomeOfOpenError(err: unknown): string {
  return err instanceof OpenError ? err.outcome : 'open-error';
}

function replyOutcome(r: Reply | undefined, client: RpcClient): string {
  if (r === undefined) return client.closeCode !== undefined ? `close-${client.closeCode}` : 'unanswered';
  if (r.error) return `error-${r.error.code}`;
  return r.result?.isError ? 'isError' : 'ok';
}

function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
}

/** What a well-behaved client saw, for one target. */
export interface WellBehavedStats {
  sent: number;
  answered: number;
  errorReplies: number;
  wrongAnswers: number;
  /** Requests in flight when the session closed with an expected code. */
  closedExpected: number;
  timedOut: number;
  /** Requests in flight when the session closed with an unexpected code. */
  lostOnClose: number;
  closes: Record<string, number>;
  reconnectFailures: Record<string, number>;
  gaveUp: number;
}

/**
 * Steady clients: one request at a time, echo and add in turn, each answer
 * checked and its latency recorded in the histogram of the current phase.
 */
export class WellBehaved {
  readonly stats: WellBehavedStats = {
    sent: 0,
    answered: 0,
    errorReplies: 0,
    wrongAnswers: 0,
    closedExpected: 0,
    timedOut: 0,
    lostOnClose: 0,
    closes: {},
    reconnectFailures: {},
    gaveUp: 0,
  };
  readonly latency = { baseline: newHistogram(), hostile: newHistogram() };
  phase: 'baseline' | 'hostile' = 'baseline';
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(readonly target: Target) {}

  start(clients: number): void {
    for (let i = 0; i < clients; i++) this.loops.push(this.loop(i));
  }

  /** Stops sending; resolves when every client has its last answer (or gave up on it) and closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  private async loop(index: number): Promise<void> {
    const s = this.stats;
    let failures = 0;
    for (let cycle = 0; cycle < MAX_CYCLES && !this.stopped; cycle++) {
      let client: RpcClient;
      try {
        client = await RpcClient.open(this.target.ws, OPEN_TIMEOUT_MS);
        failures = 0;
      } catch (err) {
        const o = outcomeOfOpenError(err);
        s.reconnectFailures[o] = (s.reconnectFailures[o] ?? 0) + 1;
        if (++failures >= 50) {
          s.gaveUp++;
          return;
        }
        await sleep(100 * Math.min(failures, 10));
        continue;
      }
      client.onClose = (code, inFlight) => {
        if (code === 1000 && this.stopped) return;
        s.closes[code] = (s.closes[code] ?? 0) + 1;
        if (this.target.expectedCloses.has(code)) s.closedExpected += inFlight;
        else s.lostOnClose += inFlight;
      };
      for (let n = 0; n < MAX_CYCLES && !this.stopped && client.open; n++) {
        const useEcho = (n + index) % 2 === 0;
        const a = n;
        const b = index;
        const want = useEcho ? `soak ${index} ${n} ${'x'.repeat(64)}` : String(a + b);
        const params = useEcho ? { name: 'echo', arguments: { text: want } } : { name: 'add', arguments: { a, b } };
        const hist = this.phase === 'baseline' ? this.latency.baseline : this.latency.hostile;
        s.sent++;
        const t0 = performance.now();
        const r = await client.request('tools/call', params, REQUEST_TIMEOUT_MS);
        if (r !== undefined) {
          hist.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
          s.answered++;
          if (r.error) s.errorReplies++;
          else if (r.result?.content?.[0]?.text !== want) s.wrongAnswers++;
        } else if (client.open) {
          // No answer in time on an open session.
          s.timedOut++;
        }
        // Unanswered because the session closed: counted by onClose.
      }
      await client.close();
    }
  }
}

/** A deadline-bounded loop: runs `cycle` until `deadline` or MAX_CYCLES, pausing `pauseMs` between cycles. */
async function repeat(outcomes: Outcomes, deadline: number, pauseMs: number, cycle: () => Promise<void>): Promise<void> {
  for (let i = 0; i < MAX_CYCLES && performance.now() < deadline; i++) {
    outcomes.cycles++;
    try {
      await cycle();
    } catch (err) {
      // A socket error is something the server did (refused, reset); anything else is the harness's own.
      const code = (err as NodeJS.ErrnoException).code;
      outcomes.add(code !== undefined ? `error-${code}` : `harness-error:${(err as Error).message.slice(0, 40)}`);
    }
    await sleep(pauseMs);
  }
}

/** An initialized session, or undefined with the failure counted. */
async function openSession(target: Target, outcomes: Outcomes): Promise<RpcClient | undefined> {
  try {
    return await RpcClient.open(target.ws, OPEN_TIMEOUT_MS);
  } catch (err) {
    outcomes.add(outcomeOfOpenError(err));
    return undefined;
  }
}

/** {@link repeat} with a fresh session per cycle: open (a failure is counted), `use`, close. */
function eachSession(target: Target, outcomes: Outcomes, deadline: number, pauseMs: number, use: (client: RpcClient) => Promise<void>): Promise<void> {
  return repeat(outcomes, deadline, pauseMs, async () => {
    const client = await openSession(target, outcomes);
    if (client === undefined) return;
    try {
      await use(client);
    } finally {
      await client.close();
    }
  });
}

/**
 * A raw upgrade whose reader holds what came with the response. Anything
 * but 101 is counted as `<label>http-<status>` and the socket dropped.
 */
async function rawSession(target: Target, outcomes: Outcomes, label = ''): Promise<{ socket: Socket; reader: FrameReader } | undefined> {
  const { status, socket, reader } = await upgradeWithReader(target.raw);
  if (status === 101) return { socket, reader };
  socket.destroy();
  outcomes.add(`${label}http-${status}`);
  return undefined;
}

/** {@link upgrade}, with a frame reader fed the bytes that followed the response head. */
async function upgradeWithReader(raw: RawTarget): Promise<{ status: number; socket: Socket; reader: FrameReader }> {
  const { status, socket, rest } = await upgrade(raw);
  const reader = new FrameReader();
  reader.push(rest);
  return { status, socket, reader };
}

/** Connect, one call, close. */
export function churn(target: Target, outcomes: Outcomes, deadline: number, pauseMs: number): Promise<void> {
  return eachSession(target, outcomes, deadline, pauseMs, async (client) => {
    const r = await client.request('tools/call', { name: 'echo', arguments: { text: 'churn' } }, REQUEST_TIMEOUT_MS);
    outcomes.add(replyOutcome(r, client));
  });
}

/** Kinds of half-open peer. */
export type HalfOpenKind = 'silent-after-upgrade' | 'wrong-token' | 'partial-head';

/**
 * Peers that stop talking: an accepted upgrade then silence (never a pong),
 * an upgrade with a wrong token whose peer neither reads nor closes, and an
 * upgrade request cut off halfway. Up to `concurrent` are held at once, each
 * until the server lets go of it or `holdMs` passes (longer than the
 * server's heartbeat and handshake timeouts, so 'open' means it never let
 * go); the last ones started may outlive the phase by up to `holdMs`. The
 * outcome says the HTTP status and how the server ended it (see HoldEnd).
 */
export async function halfOpen(
  target: Target,
  kinds: HalfOpenKind[],
  outcomes: Outcomes,
  deadline: number,
  concurrent: number,
  holdMs: number,
): Promise<void> {
  let held = 0;
  const running = new Set<Promise<void>>();
  for (let i = 0; i < MAX_CYCLES && performance.now() < deadline; i++) {
    if (held >= concurrent) {
      await Promise.race(running);
      continue;
    }
    const kind = kinds[i % kinds.length]!;
    held++;
    outcomes.cycles++;
    const p = holdOne(target, kind, holdMs)
      .then((o) => outcomes.add(`${kind}:${o}`))
      .catch((err: Error) => outcomes.add(`${kind}:error-${(err as NodeJS.ErrnoException).code ?? err.message.slice(0, 30)}`))
      .finally(() => {
        held--;
        running.delete(p);
      });
    running.add(p);
    await sleep(20);
  }
  await Promise.all(running);
}

async function holdOne(target: Target, kind: HalfOpenKind, holdMs: number): Promise<string> {
  if (kind === 'partial-head') {
    const socket = await openTcp(target.raw);
    const head = upgradeRequest(target.raw);
    socket.write(head.slice(0, head.length >> 1));
    const reader = new FrameReader();
    let status: number | undefined;
    socket.on('data', (c: Buffer) => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(c.toString('latin1', 0, 16));
      if (m && status === undefined) status = Number(m[1]);
    });
    const end = await awaitClose(socket, reader, holdMs);
    return `${status ?? 'none'}:${end}`;
  }
  const raw = kind === 'wrong-token' ? { ...target.raw, headers: { Authorization: 'Bearer wrong-token-for-the-soak-0000' } } : target.raw;
  const { status, socket, reader } = await upgradeWithReader(raw);
  // Never read again: the peer neither pongs nor closes. awaitClose only watches.
  const end = await awaitClose(socket, reader, holdMs);
  return `${status}:${end}`;
}

/**
 * Readers that stop reading: initialize, then ask for `requests` big echo
 * replies without ever reading the socket, for `stallMs`; then read to see
 * how the server ended it (4001 expected).
 */
export function slowPeer(target: Target, outcomes: Outcomes, deadline: number, requests: number, replyBytes: number, stallMs: number): Promise<void> {
  return repeat(outcomes, deadline, 50, async () => {
    const raw = await rawSession(target, outcomes);
    if (raw === undefined) return;
    const { socket, reader } = raw;
    socket.pause();
    socket.on('error', () => undefined);
    socket.write(jsonFrame({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'slow', version: '1' } } }));
    socket.write(jsonFrame({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    const text = 'y'.repeat(replyBytes);
    for (let i = 1; i <= requests; i++) {
      socket.write(jsonFrame({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'echo', arguments: { text } } }));
      await yieldToLoop(); // the other actors' sockets are served between big frames
    }
    await sleep(Math.min(stallMs, Math.max(500, deadline - performance.now() + stallMs / 2)));
    const end = await awaitClose(socket, reader, 15_000);
    outcomes.add(typeof end === 'number' ? `close-${end}` : end);
  });
}

/** Malformed inputs, one per cycle in turn. */
export const MALFORMED_KINDS = ['bad-utf8', 'bad-json', 'not-jsonrpc', 'oversize', 'reserved-opcode', 'rsv1', 'unmasked', 'binary'] as const;

function malformedBytes(kind: (typeof MALFORMED_KINDS)[number], maxPayload: number): Buffer {
  switch (kind) {
    case 'bad-utf8':
      return frame(0x1, Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0xff, 0xfe, 0x22, 0x7d]));
    case 'bad-json':
      return frame(0x1, Buffer.from('{"jsonrpc":"2.0","id":1,"method":'));
    case 'not-jsonrpc':
      return frame(0x1, Buffer.from('[1,2,3,{"x":null}]'));
    case 'oversize':
      // Announce one byte over the limit; send only the header.
      return frame(0x1, Buffer.alloc(0), { claimLength: maxPayload + 1 }).subarray(0, 14);
    case 'reserved-opcode':
      return frame(0x3, Buffer.from('reserved'));
    case 'rsv1':
      return frame(0x1, Buffer.from('{}'), { rsv: 4 });
    case 'unmasked':
      return frame(0x1, Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping"}'), { mask: false });
    case 'binary':
      return frame(0x2, Buffer.from([0, 1, 2, 3]));
  }
}

/**
 * Malformed frames over raw sockets. The outcome is the close code the
 * server sent, or `reply:<error code>` when it answered with a JSON-RPC
 * error and kept the session (bad JSON is a -32700 reply, not a close).
 */
export function malformed(target: Target, outcomes: Outcomes, deadline: number, maxPayload: number): Promise<void> {
  let i = 0;
  return repeat(outcomes, deadline, 20, async () => {
    const kind = MALFORMED_KINDS[i++ % MALFORMED_KINDS.length]!;
    const raw = await rawSession(target, outcomes, `${kind}:`);
    if (raw === undefined) return;
    const { socket, reader } = raw;
    socket.write(malformedBytes(kind, maxPayload));
    const end = await firstReplyOrClose(socket, reader, 15_000);
    outcomes.add(`${kind}:${end}`);
  });
}

function firstReplyOrClose(socket: Socket, reader: FrameReader, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (v: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish('open'), timeoutMs);
    const check = (): void => {
      if (reader.closeCode !== undefined) finish(String(reader.closeCode));
      else if (reader.firstTexts.length > 0) {
        let code = 'none';
        try {
          code = String((JSON.parse(reader.firstTexts[0]!) as Reply).error?.code ?? 'result');
        } catch {
          code = 'unparsable';
        }
        finish(`reply:${code}`);
      }
    };
    check();
    socket.on('data', (c: Buffer) => {
      reader.push(c);
      check();
    });
    socket.on('error', () => finish(reader.closeCode !== undefined ? String(reader.closeCode) : 'reset'));
    socket.on('close', () => finish(reader.closeCode !== undefined ? String(reader.closeCode) : 'reset'));
  });
}

/** Tools that throw: each call must be answered (error or isError) and the session must stay open. */
export function throwing(target: Target, tools: string[], outcomes: Outcomes, deadline: number): Promise<void> {
  let client: RpcClient | undefined;
  let i = 0;
  return repeat(outcomes, deadline, 10, async () => {
    if (!client || !client.open) {
      client = await openSession(target, outcomes);
      if (client === undefined) {
        await sleep(200);
        return;
      }
    }
    const tool = tools[i++ % tools.length]!;
    const r = await client.request('tools/call', { name: tool, arguments: {} }, REQUEST_TIMEOUT_MS);
    outcomes.add(`${tool}:${replyOutcome(r, client)}`);
  }).finally(() => client?.close());
}

/**
 * Greedy pipelining: `count` sleep calls sent at once without waiting, then
 * wait (bounded) for the replies. Outcomes count replies by kind and how
 * the session ended.
 */
export function pipelining(target: Target, outcomes: Outcomes, deadline: number, count: number, sleepMs: number): Promise<void> {
  return eachSession(target, outcomes, deadline, 100, async (client) => {
    let replies = 0;
    client.countReplies((r) => {
      replies++;
      outcomes.add(r.error ? `error-${r.error.code}` : 'ok');
    });
    for (let i = 0; i < count; i++) {
      client.fire('tools/call', { name: 'sleep', arguments: { ms: sleepMs } });
      if (i % 100 === 99) await yieldToLoop(); // without waiting for replies, but without stalling the other actors
    }
    const waitUntil = performance.now() + sleepMs + 20_000;
    for (let i = 0; i < 10_000 && replies < count && client.open && performance.now() < waitUntil; i++) await sleep(50);
    if (!client.open) outcomes.add(`close-${client.closeCode}`);
    else if (replies < count) outcomes.add('unanswered', count - replies);
  });
}

/**
 * Upstream kills: ask the gateway which stdio process serves this session
 * (the `pid` tool), SIGKILL it, keep sending notifications and requests on
 * the session until the gateway closes it, and check the next session is
 * served by another, live process.
 */
export function upstreamKills(target: Target, outcomes: Outcomes, deadline: number, everyMs: number): Promise<void> {
  let lastKilled = 0;
  return eachSession(target, outcomes, deadline, everyMs, async (client) => {
    const r = await client.request('tools/call', { name: 'pid', arguments: {} }, REQUEST_TIMEOUT_MS);
    const pid = Number(r?.result?.content?.[0]?.text);
    if (!Number.isInteger(pid) || pid <= 1) {
      outcomes.add(`pid-${replyOutcome(r, client)}`);
      return;
    }
    if (lastKilled !== 0) outcomes.add(pid === lastKilled ? 'served-by-killed-pid' : 'recovered');
    try {
      process.kill(pid, 'SIGKILL');
      lastKilled = pid;
      outcomes.add('killed');
    } catch {
      outcomes.add('kill-failed');
    }
    // Keep talking while the gateway notices: notifications and requests toward a dead upstream.
    for (let i = 0; i < 2_000 && client.open; i++) {
      client.notify('notifications/roots/list_changed');
      client.fire('tools/call', { name: 'echo', arguments: { text: 'after kill' } });
      if (i % 20 === 19) await yieldToLoop();
    }
    const code = await Promise.race([client.closed, sleep(10_000).then(() => undefined)]);
    outcomes.add(code === undefined ? 'session-left-open' : `close-${code}`);
  });
}
