/**
 * The door under hostile peers: rejected upgrades must give back their
 * connection slot and their socket even when the peer keeps its side open
 * and never reads; a handler factory that throws costs one connection; a
 * JWKS outage is the server's failure (503), not the client's (401).
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { SignJWT, exportJWK } from 'jose';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { McpWsServer } from '../../src/server/server.js';
import { createDemoRouter } from '../../src/demo/demo-router.js';
import { RawClient, closeAll, startServer, until } from '../helpers.js';

afterAll(closeAll);

const TOKEN = 'door-token-0123456789abcdef';

const peers: Socket[] = [];
afterEach(() => {
  for (const p of peers.splice(0)) p.destroy();
});

/**
 * A raw TCP peer that sends `request` and then keeps its side open forever:
 * it never ends, and never reads what the server sends.
 */
function halfOpenPeer(port: number, request: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => {
      s.write(request);
      s.pause();
      resolve(s);
    });
    s.on('error', () => {});
    s.once('error', reject);
    peers.push(s);
  });
}

function upgradeRequest(port: number, path = '/ws', headers: Record<string, string> = {}): string {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mcp\r\n${extra}\r\n`
  );
}

function openSockets(server: McpWsServer): Promise<number> {
  return new Promise((resolve, reject) => server.http.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

/** Upgrade attempt with ws: the HTTP status (101 when it opened). */
function attempt(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['mcp'], { headers });
    ws.once('open', () => resolve({ status: 101, headers: {}, ws }));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    ws.once('error', (err) => {
      if (!String(err.message).includes('Unexpected server response')) reject(err);
    });
  });
}

describe('rejected upgrades give their slot and socket back', () => {
  it('eight half-open peers with a wrong token do not hold the slots of --max-connections 5', async () => {
    const { server, url } = await startServer({ maxConnections: 5, auth: { tokens: [TOKEN] } });
    const port = new URL(url).port;
    for (let i = 0; i < 8; i++) await halfOpenPeer(Number(port), upgradeRequest(Number(port), '/ws', { Authorization: 'Bearer wrong-token-0123456789' }));
    expect(await until(() => server.metrics.rejected.auth + server.metrics.rejected.max_connections >= 8, 10_000)).toBe(true);
    expect(await until(() => server.slotCount === 0, 10_000)).toBe(true);
    expect(await until(async () => (await openSockets(server)) === 0, 10_000)).toBe(true);
    expect(await server.registry.getSingleMetricAsString('mcp_ws_connection_slots')).toMatch(/^mcp_ws_connection_slots 0$/m);
    const good = await attempt(url, { Authorization: `Bearer ${TOKEN}` });
    expect(good.status).toBe(101);
    expect(server.slotCount).toBe(1);
    good.ws!.close();
    expect(await until(() => server.slotCount === 0, 10_000)).toBe(true);
  });

  it('every rejection path destroys the socket of a peer that keeps its side open', async () => {
    const { server, url } = await startServer({ maxConnections: 1, maxHeaders: 20, handshakeTimeoutMs: 500, auth: { tokens: [TOKEN] } });
    const port = Number(new URL(url).port);
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const held = await attempt(url, auth); // takes the only slot: the next good upgrade gets 503
    expect(held.status).toBe(101);
    const many: Record<string, string> = { ...auth };
    for (let i = 0; i < 30; i++) many[`X-Pad-${i}`] = 'x';
    const requests = [
      upgradeRequest(port, '/elsewhere', auth), // 404
      upgradeRequest(port, '/ws', many), // 400
      upgradeRequest(port, '/ws', { ...auth, Origin: 'https://evil.example' }), // 403
      upgradeRequest(port, '/ws', { Authorization: 'Bearer wrong-token-0123456789' }), // 401 (or 503: slots)
      upgradeRequest(port, '/ws', auth), // 503 max_connections
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, // 426
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`, // headers never finish: 408 after handshakeTimeoutMs
    ];
    for (const r of requests) await halfOpenPeer(port, r);
    // Only the held session's socket may remain.
    expect(await until(async () => (await openSockets(server)) === 1, 15_000)).toBe(true);
    expect(server.slotCount).toBe(1);
    held.ws!.close();
    expect(await until(() => server.slotCount === 0, 10_000)).toBe(true);
  });

  it('a 426 says Connection: close', async () => {
    const { base } = await startServer();
    const res = await fetch(`${base}/ws`);
    expect(res.status).toBe(426);
    expect(res.headers.get('connection')).toMatch(/\bclose\b/i);
    await res.text();
  });
});

describe('a handler factory that throws', () => {
  it('costs only its own connection: 1011, logged once, no uncaught error, the next connection works', async () => {
    const escaped: unknown[] = [];
    const onEscape = (err: unknown): void => void escaped.push(err);
    process.on('uncaughtException', onEscape);
    process.on('unhandledRejection', onEscape);
    try {
      const lines: string[] = [];
      const logger = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
      const router = createDemoRouter();
      let made = 0;
      for (const auth of [undefined, { tokens: [TOKEN] }]) {
        const { url } = await startServer({
          logger,
          auth,
          handler: (peer) => {
            if (made++ % 2 === 0) throw new Error('factory exploded');
            return router.createHandler(peer);
          },
        });
        const headers: Record<string, string> = auth ? { Authorization: `Bearer ${TOKEN}` } : {};
        const first = await attempt(url, headers);
        expect(first.status).toBe(101);
        const closed = await new Promise<number>((resolve) => {
          const t = setTimeout(() => resolve(-1), 5000);
          first.ws!.once('close', (code) => (clearTimeout(t), resolve(code)));
        });
        expect(closed).toBe(1011);
        const second = await RawClient.open(url, ['mcp'], { headers });
        second.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
        expect((await second.next()).result).toEqual({});
        second.ws.close();
      }
      await new Promise((r) => setTimeout(r, 50));
      expect(escaped).toEqual([]);
      expect(lines.filter((l) => l.includes('factory exploded'))).toHaveLength(2);
    } finally {
      process.off('uncaughtException', onEscape);
      process.off('unhandledRejection', onEscape);
    }
  });
});

describe('listen() once', () => {
  it('a second listen() and a listen() after close() reject with a clear error', async () => {
    const server = new McpWsServer({ handler: createDemoRouter(), port: 0, processMetrics: false });
    await server.listen();
    await expect(server.listen()).rejects.toThrow(/already called/);
    await server.close();
    await expect(server.listen()).rejects.toThrow(/after close\(\)/);
    const never = new McpWsServer({ handler: createDemoRouter(), port: 0, processMetrics: false });
    await never.close();
    await expect(never.listen()).rejects.toThrow(/after close\(\)/);
  });
});

describe('JWKS outage', () => {
  it('answers 503 + Retry-After while the key source is unreachable, logging down and recovery once each', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const body = JSON.stringify({ keys: [jwk] });
    const jwks: HttpServer = createHttpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(body);
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', () => resolve()));
    const jwksPort = (jwks.address() as { port: number }).port;
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const { url, server } = await startServer({
      logger,
      auth: { jwt: { jwksUrl: `http://127.0.0.1:${jwksPort}/jwks.json`, jwksCacheMaxAgeMs: 1, jwksCooldownMs: 0 } },
    });
    const token = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
    const headers = { Authorization: `Bearer ${token}` };
    const up = await attempt(url, headers);
    expect(up.status).toBe(101);
    up.ws!.close();

    jwks.closeAllConnections();
    await new Promise<void>((resolve) => jwks.close(() => resolve()));
    for (let i = 0; i < 3; i++) {
      const r = await attempt(url, headers);
      expect(r.status).toBe(503);
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    expect(server.metrics.rejected.auth_unavailable).toBe(3);
    // A wrong token is still the client's failure.
    expect((await attempt(url, { Authorization: 'Bearer not-a-jwt-at-all' })).status).toBe(401);

    await new Promise<void>((resolve, reject) => {
      jwks.once('error', reject);
      jwks.listen(jwksPort, '127.0.0.1', () => resolve());
    });
    let back = await attempt(url, headers);
    for (let i = 0; i < 20 && back.status !== 101; i++) {
      await new Promise((r) => setTimeout(r, 100));
      back = await attempt(url, headers);
    }
    expect(back.status).toBe(101);
    back.ws!.close();
    const again = await attempt(url, headers);
    expect(again.status).toBe(101);
    again.ws!.close();
    jwks.closeAllConnections();
    jwks.close();

    const states = lines.map((l) => JSON.parse(l) as { msg: string }).filter((l) => /key source/.test(l.msg));
    expect(states.map((l) => l.msg)).toEqual(['JWT key source unreachable', 'JWT key source reachable again']);
  });
});

describe('limits that ws keeps as 32-bit integers', () => {
  it('the constructor refuses 2^31 and above, naming the option and the value', () => {
    for (const name of ['maxPayload', 'maxFragments', 'maxBufferedChunks', 'maxHeaders', 'maxConnections', 'heartbeatIntervalMs', 'drainTimeoutMs']) {
      for (const v of [2 ** 31, 2 ** 32]) {
        expect(() => new McpWsServer({ handler: createDemoRouter(), [name]: v }), name).toThrow(new RegExp(`${name}.*${v}`));
      }
      expect(() => new McpWsServer({ handler: createDemoRouter(), processMetrics: false, [name]: 2 ** 31 - 1 }), name).not.toThrow();
    }
  });
});
