/**
 * A handler bug costs its own connection, never the process: a throwing or
 * rejecting notification/response handler, or a factory that throws, closes
 * that session with 1011 and logs one line; other sessions keep working.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SessionHandler, SessionPeer } from '../../src/server/handler.js';
import { RateLimiter } from '../../src/ratelimit/limiter.js';
import { RawClient, closeAll, startServer } from '../helpers.js';

afterAll(closeAll);

const faults: unknown[] = [];
const onFault = (err: unknown): void => {
  faults.push(err);
};
beforeEach(() => {
  faults.length = 0;
  process.on('uncaughtException', onFault);
  process.on('unhandledRejection', onFault);
});
afterEach(() => {
  process.off('uncaughtException', onFault);
  process.off('unhandledRejection', onFault);
});

/** A logger whose error lines the test can count. */
function captureLogger(): { logger: pino.Logger; errors: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const logger = pino({ level: 'error' }, stream);
  return { logger, errors: () => lines.flatMap((l) => l.split('\n').filter(Boolean)).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A handler whose notification and response paths fail on demand:
 * method `boom` throws, `reject` returns a rejected promise; a response
 * with id `boom` throws, id `reject` rejects. `ping` answers.
 */
function faultyHandler(peer: SessionPeer): SessionHandler {
  return {
    protocolVersion: '2025-11-25',
    request: (msg) => JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { session: peer.id } }),
    notification(msg) {
      if (msg.method === 'boom') throw new Error('notification handler bug');
      if (msg.method === 'reject') return Promise.reject(new Error('async notification handler bug')) as unknown as void;
    },
    response(msg) {
      if (msg.id === 'boom') throw new Error('response handler bug');
      if (msg.id === 'reject') return Promise.reject(new Error('async response handler bug')) as unknown as void;
    },
    closed() {},
  };
}

async function expectServing(c: RawClient): Promise<void> {
  const r = await c.request('ping');
  expect(r.result).toBeDefined();
}

async function settle(): Promise<void> {
  // Let any stray rejection reach the process listeners.
  await sleep(50);
  await new Promise((r) => setImmediate(r));
}

describe('handler faults', () => {
  it.each([
    ['a notification handler that throws', { jsonrpc: '2.0', method: 'boom' }],
    ['a notification handler that rejects', { jsonrpc: '2.0', method: 'reject' }],
    ['a response handler that throws', { jsonrpc: '2.0', id: 'boom', result: {} }],
    ['a response handler that rejects', { jsonrpc: '2.0', id: 'reject', result: {} }],
  ])('%s closes only its session with 1011, logged once', async (_name, msg) => {
    const { logger, errors } = captureLogger();
    const { url, server } = await startServer({ handler: faultyHandler, logger });
    const bystander = await RawClient.open(url);
    const victim = await RawClient.open(url);
    await expectServing(victim);
    for (let i = 0; i < 50; i++) victim.send(msg);
    expect((await victim.closed).code).toBe(1011);
    await settle();
    expect(faults).toEqual([]);
    const lines = errors();
    expect(lines).toHaveLength(1);
    expect(lines[0]!.session).toBeTypeOf('string');
    await expectServing(bystander);
    expect(server.sessionCount).toBe(1);
    bystander.close();
  });

  it('a failing handler in a batch closes the session with 1011, not the process', async () => {
    const { logger, errors } = captureLogger();
    const handler = (peer: SessionPeer): SessionHandler => ({ ...faultyHandler(peer), protocolVersion: '2025-03-26' });
    const { url } = await startServer({ handler, logger });
    const victim = await RawClient.open(url);
    victim.send([
      { jsonrpc: '2.0', method: 'boom' },
      { jsonrpc: '2.0', id: 'reject', result: {} },
      { jsonrpc: '2.0', method: 'reject' },
    ]);
    expect((await victim.closed).code).toBe(1011);
    await settle();
    expect(faults).toEqual([]);
    expect(errors()).toHaveLength(1);
  });

  it('a factory that throws closes that session with 1011; the next session is served', async () => {
    const { logger, errors } = captureLogger();
    let fail = true;
    const factory = (peer: SessionPeer): SessionHandler => {
      if (fail) {
        fail = false;
        throw new Error('factory bug');
      }
      return faultyHandler(peer);
    };
    const { url, server } = await startServer({ handler: factory, logger });
    const victim = await RawClient.open(url);
    // Messages sent to a session without a handler go nowhere and fail nothing.
    victim.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
    victim.send({ jsonrpc: '2.0', method: 'boom' });
    expect((await victim.closed).code).toBe(1011);
    const next = await RawClient.open(url);
    await expectServing(next);
    await settle();
    expect(faults).toEqual([]);
    expect(errors()).toHaveLength(1);
    for (let i = 0; i < 100 && server.sessionCount !== 1; i++) await sleep(20);
    expect(server.sessionCount).toBe(1);
    next.close();
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['an object without the handler methods', { request: () => 'x' }],
  ])('a factory that returns %s closes that session with 1011 at once; the process stays up', async (_what, made) => {
    const { logger, errors } = captureLogger();
    let bad = true;
    const factory = (peer: SessionPeer): SessionHandler => {
      if (bad) {
        bad = false;
        return made as unknown as SessionHandler;
      }
      return faultyHandler(peer);
    };
    const { url } = await startServer({ handler: factory, logger });
    const victim = await RawClient.open(url);
    // A batch reads the handler's protocolVersion before any handler method runs.
    victim.send([{ jsonrpc: '2.0', id: 1, method: 'ping' }]);
    victim.send({ jsonrpc: '2.0', method: 'boom' });
    expect((await victim.closed).code).toBe(1011);
    const next = await RawClient.open(url);
    await expectServing(next);
    await settle();
    expect(faults).toEqual([]);
    expect(errors()).toHaveLength(1);
    expect(String(errors()[0]!.msg)).toMatch(/handler factory/);
    next.close();
  });

  it('a handler object that breaks its contract while a message is dispatched costs its session, not the process', async () => {
    const { logger, errors } = captureLogger();
    const handler = (peer: SessionPeer): SessionHandler => {
      const h = faultyHandler(peer);
      // protocolVersion is read on every batch; a getter that throws is a broken handler.
      Object.defineProperty(h, 'protocolVersion', {
        get() {
          throw new Error('protocolVersion getter bug');
        },
      });
      return h;
    };
    const { url } = await startServer({ handler, logger });
    const c = await RawClient.open(url);
    c.send([{ jsonrpc: '2.0', id: 1, method: 'ping' }]);
    expect((await c.closed).code).toBe(1011);
    await settle();
    expect(faults).toEqual([]);
    expect(errors()).toHaveLength(1);
  });

  it('a handler whose closed() rejects does not reach the process', async () => {
    const { logger, errors } = captureLogger();
    const handler = (peer: SessionPeer): SessionHandler => ({
      ...faultyHandler(peer),
      closed: () => Promise.reject(new Error('async close bug')) as unknown as void,
    });
    const { url } = await startServer({ handler, logger });
    const c = await RawClient.open(url);
    await expectServing(c);
    c.close();
    await c.closed;
    await settle();
    expect(faults).toEqual([]);
    for (let i = 0; i < 100 && errors().length === 0; i++) await sleep(20);
    expect(errors()).toHaveLength(1);
  });

  it('a rate-limit check that rejects for a notification does not reach the process', async () => {
    const { logger } = captureLogger();
    const limiter = new RateLimiter({ strategy: 'TokenBucket', maxRequestsPerSecond: 1000, maxBurst: 1000 });
    // A shared store that fails: the check answers with a rejected promise.
    limiter.checkNotification = () => Promise.reject(new Error('store failed'));
    const seen: string[] = [];
    const handler = (peer: SessionPeer): SessionHandler => ({
      ...faultyHandler(peer),
      notification: (msg) => void seen.push(msg.method),
    });
    const { url } = await startServer({ handler, logger, rateLimit: limiter });
    const c = await RawClient.open(url);
    for (let i = 0; i < 20; i++) c.send({ jsonrpc: '2.0', method: 'notifications/progress' });
    await expectServing(c);
    await settle();
    expect(faults).toEqual([]);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    c.close();
  });
});
