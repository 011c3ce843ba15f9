import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { McpRouter } from '../../src/router/router.js';
import { RawClient, closeAll, startServer } from '../helpers.js';

afterAll(closeAll);

const TOKEN = 'static-token-0123456789abcdef';
const SECRET = 'a-very-long-shared-secret-for-hs256-tests!';

/** Result of one upgrade attempt: status, headers, and the socket when it opened. */
function attempt(url: string, options: { headers?: Record<string, string>; protocols?: string[]; ca?: Buffer } = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string; ws?: WebSocket }>((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? ['mcp'], { headers: options.headers, ca: options.ca });
    ws.once('open', () => resolve({ status: 101, headers: {}, body: '', ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    ws.once('error', (err) => {
      if (!String(err.message).includes('Unexpected server response')) reject(err);
    });
  });
}

/** A router whose tool returns the caller's identity. */
function whoamiRouter(): McpRouter {
  return new McpRouter({ name: 'who', version: '1' })
    .tool({ name: 'whoami' }, (_a, ctx) => ({ subject: ctx.identity?.subject ?? null, scopes: ctx.identity?.scopes ?? [] }))
    .tool({ name: 'admin-only' }, () => 'secret stuff');
}

async function call(ws: WebSocket, method: string, params?: unknown, id = 1): Promise<any> {
  const reply = new Promise<any>((resolve) => ws.once('message', (d) => resolve(JSON.parse((d as Buffer).toString()))));
  ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  return reply;
}

async function init(ws: WebSocket): Promise<void> {
  await call(ws, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } }, 0);
}

describe('origin and host validation', () => {
  it('accepts no Origin and loopback origins by default, refuses others with 403', async () => {
    const { url, server } = await startServer();
    expect((await attempt(url)).status).toBe(101);
    for (const origin of ['http://localhost:3000', 'http://127.0.0.1', 'https://[::1]:8443', 'http://app.localhost:5173']) {
      const r = await attempt(url, { headers: { Origin: origin } });
      expect(r.status, origin).toBe(101);
      r.ws!.terminate();
    }
    for (const origin of ['https://evil.example', 'null', 'http://localhost.evil.example', 'file://']) {
      expect((await attempt(url, { headers: { Origin: origin } })).status, origin).toBe(403);
    }
    expect(server.metrics.rejected.origin).toBe(4);
  });

  it('refuses a Host header that is not loopback when bound to loopback (DNS rebinding)', async () => {
    const { url } = await startServer();
    expect((await attempt(url, { headers: { Host: 'rebind.attacker.example' } })).status).toBe(403);
    const ok = await attempt(url, { headers: { Host: 'localhost:1234' } });
    expect(ok.status).toBe(101);
    ok.ws!.terminate();
  });

  it('honours origin allowlists with exact and wildcard entries, and allow-any', async () => {
    const { url } = await startServer({ allowedOrigins: ['https://app.example.com', 'https://*.trusted.example'] });
    const ok = ['https://app.example.com', 'https://a.trusted.example', 'https://a.b.trusted.example'];
    const bad = ['https://trusted.example', 'http://a.trusted.example', 'https://app.example.com.evil', 'http://localhost'];
    for (const o of ok) expect((await attempt(url, { headers: { Origin: o } })).status, o).toBe(101);
    for (const o of bad) expect((await attempt(url, { headers: { Origin: o } })).status, o).toBe(403);
    const any = await startServer({ allowedOrigins: ['*'] });
    expect((await attempt(any.url, { headers: { Origin: 'https://anything.example' } })).status).toBe(101);
  });
});

describe('static bearer tokens', () => {
  it('requires a credential: 401 with WWW-Authenticate when missing or wrong', async () => {
    const { url, server } = await startServer({ auth: { tokens: [TOKEN] } });
    const none = await attempt(url);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe(`Bearer realm="mcp-ws", error="invalid_request", resource_metadata="${url.replace('ws://', 'http://').replace(/\/ws$/, '')}/.well-known/oauth-protected-resource/ws"`);
    const wrong = await attempt(url, { headers: { Authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toMatch(/invalid_token/);
    const basic = await attempt(url, { headers: { Authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.status).toBe(401);
    expect(server.metrics.rejected.auth).toBe(3);
  });

  it('accepts the token from Authorization or from the mcp.auth subprotocol, never echoing it', async () => {
    const { url } = await startServer({ handler: whoamiRouter(), auth: { tokens: [{ token: TOKEN, subject: 'ci', scopes: ['tools'] }] } });
    const viaHeader = await attempt(url, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(viaHeader.status).toBe(101);
    await init(viaHeader.ws!);
    const r = await call(viaHeader.ws!, 'tools/call', { name: 'whoami', arguments: {} });
    expect(r.result.structuredContent).toEqual({ subject: 'ci', scopes: ['tools'] });
    viaHeader.ws!.terminate();
    const viaProtocol = await attempt(url, { protocols: ['mcp', `mcp.auth.${TOKEN}`] });
    expect(viaProtocol.status).toBe(101);
    expect(viaProtocol.ws!.protocol).toBe('mcp');
    viaProtocol.ws!.terminate();
  });

  it('refuses a token in the query string', async () => {
    const { url } = await startServer({ auth: { tokens: [TOKEN] } });
    const r = await attempt(`${url}?access_token=${TOKEN}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(401);
    expect(r.body).toMatch(/query string/);
  });

  it('answers 403 when the identity lacks the scopes needed to connect', async () => {
    const { url } = await startServer({
      auth: { tokens: [{ token: TOKEN, scopes: ['read'] }], requiredScopes: ['mcp:connect'] },
    });
    const r = await attempt(url, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(403);
    expect(r.headers['www-authenticate']).toMatch(/insufficient_scope/);
  });

  it('answers a tool call outside the identity scopes with -32013', async () => {
    const { url } = await startServer({
      handler: whoamiRouter(),
      auth: { tokens: [{ token: TOKEN, scopes: ['user'] }], toolScopes: { 'admin-only': ['admin'] } },
    });
    const r = await attempt(url, { headers: { Authorization: `Bearer ${TOKEN}` } });
    await init(r.ws!);
    expect((await call(r.ws!, 'tools/call', { name: 'admin-only', arguments: {} })).error.code).toBe(-32013);
    expect((await call(r.ws!, 'tools/call', { name: 'whoami', arguments: {} })).result).toBeDefined();
    r.ws!.terminate();
  });
});

describe('JWT', () => {
  const sign = (claims: Record<string, unknown>, alg = 'HS256', key: Parameters<SignJWT['sign']>[0] = new TextEncoder().encode(SECRET), kid?: string) =>
    new SignJWT(claims).setProtectedHeader(kid ? { alg, kid } : { alg }).setIssuedAt().sign(key);
  const now = () => Math.floor(Date.now() / 1000);

  it('verifies HS256 with issuer and audience, and passes subject and scopes to handlers', async () => {
    const { url } = await startServer({
      handler: whoamiRouter(),
      auth: { jwt: { secret: SECRET, issuer: 'https://issuer.test', audience: 'mcp-ws' } },
    });
    const good = await sign({ sub: 'alice', scope: 'tools:read tools:write', iss: 'https://issuer.test', aud: 'mcp-ws', exp: now() + 600 });
    const r = await attempt(url, { headers: { Authorization: `Bearer ${good}` } });
    expect(r.status).toBe(101);
    await init(r.ws!);
    const who = await call(r.ws!, 'tools/call', { name: 'whoami', arguments: {} });
    expect(who.result.structuredContent).toEqual({ subject: 'alice', scopes: ['tools:read', 'tools:write'] });
    r.ws!.terminate();
    for (const bad of [
      await sign({ sub: 'a', iss: 'https://other', aud: 'mcp-ws', exp: now() + 600 }),
      await sign({ sub: 'a', iss: 'https://issuer.test', aud: 'other', exp: now() + 600 }),
      await sign({ sub: 'a', iss: 'https://issuer.test', aud: 'mcp-ws', exp: now() - 3600 }),
      await sign({ sub: 'a', iss: 'https://issuer.test', aud: 'mcp-ws' }), // no exp
      await sign({ sub: 'a', iss: 'https://issuer.test', aud: 'mcp-ws', exp: now() + 600 }, 'HS256', new TextEncoder().encode(`${SECRET}-wrong`)),
      'not.a.jwt',
    ]) {
      expect((await attempt(url, { headers: { Authorization: `Bearer ${bad}` } })).status).toBe(401);
    }
  });

  it.each([
    ['RS256', 'rsa', { modulusLength: 2048 }],
    ['PS256', 'rsa', { modulusLength: 2048 }],
    ['ES256', 'ec', { namedCurve: 'P-256' }],
    ['ES384', 'ec', { namedCurve: 'P-384' }],
    ['EdDSA', 'ed25519', {}],
  ] as const)('verifies %s with a PEM public key', async (alg, type, opts) => {
    const { publicKey, privateKey } = generateKeyPairSync(type as 'rsa', opts as { modulusLength: number });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const { url } = await startServer({ auth: { jwt: { publicKey: pem } } });
    const token = await sign({ sub: 'k', exp: now() + 60 }, alg, privateKey);
    const r = await attempt(url, { headers: { Authorization: `Bearer ${token}` } });
    expect(r.status).toBe(101);
    r.ws!.terminate();
    // An HS256 token must not pass against an asymmetric key (algorithm confusion).
    const hs = await sign({ sub: 'k', exp: now() + 60 }, 'HS256', new TextEncoder().encode(pem));
    expect((await attempt(url, { headers: { Authorization: `Bearer ${hs}` } })).status).toBe(401);
  });

  it('fetches keys from a JWKS URL and follows key rotation', async () => {
    const k1 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const k2 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    let keys = [{ ...(await exportJWK(k1.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }];
    let fetches = 0;
    const jwks = createHttpServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks.json`;
    try {
      const { url } = await startServer({ auth: { jwt: { jwksUrl, jwksCooldownMs: 0 } } });
      const t1 = await sign({ sub: 'a', exp: now() + 60 }, 'ES256', k1.privateKey, 'k1');
      const a = await attempt(url, { headers: { Authorization: `Bearer ${t1}` } });
      expect(a.status).toBe(101);
      a.ws!.terminate();
      const b = await attempt(url, { headers: { Authorization: `Bearer ${t1}` } });
      expect(b.status).toBe(101);
      b.ws!.terminate();
      expect(fetches).toBe(1); // cached
      // Rotate: the issuer now signs with k2, published under a new kid.
      keys = [{ ...(await exportJWK(k2.publicKey)), kid: 'k2', alg: 'ES256', use: 'sig' }];
      const t2 = await sign({ sub: 'a', exp: now() + 60 }, 'ES256', k2.privateKey, 'k2');
      const c = await attempt(url, { headers: { Authorization: `Bearer ${t2}` } });
      expect(c.status).toBe(101);
      c.ws!.terminate();
      expect(fetches).toBe(2);
    } finally {
      jwks.close();
    }
  });

  it('closes the session with 1008 when the JWT expires while connected', async () => {
    const { url } = await startServer({ auth: { jwt: { secret: SECRET, clockToleranceSec: 0 } } });
    const token = await sign({ sub: 'short', exp: now() + 2 });
    const r = await attempt(url, { headers: { Authorization: `Bearer ${token}` } });
    expect(r.status).toBe(101);
    const closed = await new Promise<number>((resolve) => r.ws!.once('close', (code) => resolve(code)));
    expect(closed).toBe(1008);
  });
});

describe('TLS', () => {
  it('serves wss:// and reloads the certificate without dropping open connections', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-tls-'));
    const makeCert = (name: string) => {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`),
      ], { stdio: 'ignore' });
      return { cert: readFileSync(join(dir, `${name}.crt`)), key: readFileSync(join(dir, `${name}.key`)) };
    };
    const one = makeCert('one');
    const two = makeCert('two');
    writeFileSync(join(dir, 'live.crt'), one.cert);
    writeFileSync(join(dir, 'live.key'), one.key);
    const { url, server } = await startServer({ tls: { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') } });
    expect(url).toMatch(/^wss:\/\//);
    const first = await attempt(url, { ca: one.cert });
    expect(first.status).toBe(101);
    await init(first.ws!);
    writeFileSync(join(dir, 'live.crt'), two.cert);
    writeFileSync(join(dir, 'live.key'), two.key);
    server.reloadTls();
    const second = await attempt(url, { ca: two.cert });
    expect(second.status).toBe(101);
    await expect(attempt(url, { ca: one.cert })).rejects.toThrow(/self-signed|certificate/);
    // The connection opened with the old certificate still works.
    expect((await call(first.ws!, 'ping', undefined, 7)).result).toEqual({});
    first.ws!.terminate();
    second.ws!.terminate();
  });
});

describe('abuse limits', () => {
  it('closes a session whose message stays incomplete with 1008', async () => {
    const { url, server } = await startServer({ messageTimeoutMs: 200 });
    const c = await RawClient.open(url);
    const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
    // A masked text frame header announcing 100 bytes, then only 10 of them.
    socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | 100, 1, 2, 3, 4]), Buffer.alloc(10, 0x20)]));
    const closed = await Promise.race([c.closed, new Promise((r) => setTimeout(() => r('timeout'), 8000))]);
    expect(closed).not.toBe('timeout');
    expect(server.metrics.errors.message_timeout).toBe(1);
  });

  it('answers an upgrade with too many headers with 400 and stays up', async () => {
    const { url, server } = await startServer();
    const port = Number(new URL(url).port);
    const lines = ['GET /ws HTTP/1.1', 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];
    for (let i = 0; i < 2000; i++) lines.push(`x${i}: y`);
    const response = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write(`${lines.join('\r\n')}\r\n\r\n`));
      let data = '';
      s.on('data', (d: Buffer) => (data += d.toString()));
      s.on('close', () => resolve(data));
      s.on('error', () => resolve(data));
    });
    expect(response).toMatch(/^HTTP\/1\.1 400/);
    expect(server.metrics.rejected.headers).toBe(1);
    const ok = await RawClient.session(url);
    ok.close();
  });
});
