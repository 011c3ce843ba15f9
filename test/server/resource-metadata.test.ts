/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728): published when auth is
 * on, pointed to from every 401 (HTTP and WebSocket upgrade), absent when
 * auth is off; a JWT from the advertised issuer still verifies.
 */
import { request } from 'node:http';
import { SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { resolveAuth } from '../../src/config/auth.js';
import { parseServeConfig } from '../../src/config/schema.js';
import { Authenticator } from '../../src/server/auth.js';
import { closeAll, startServer } from '../helpers.js';

afterAll(closeAll);

const TOKEN = 'static-token-0123456789abcdef';
const SECRET = 'a-very-long-shared-secret-for-hs256-tests!';
const ISSUER = 'https://issuer.example.test';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(base: string, path: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function upgrade(url: string, headers: Record<string, string> = {}): Promise<Reply & { ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['mcp'], { headers });
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

function metadataUrlOf(header: unknown): string {
  const m = /resource_metadata="([^"]+)"/.exec(String(header));
  if (!m) throw new Error(`no resource_metadata in ${String(header)}`);
  return m[1]!;
}

describe('protected resource metadata', () => {
  it('is absent when auth is off: 404, and nothing to point to', async () => {
    const { base } = await startServer();
    expect((await get(base, '/.well-known/oauth-protected-resource')).status).toBe(404);
    expect((await get(base, '/.well-known/oauth-protected-resource/ws')).status).toBe(404);
  });

  it('publishes the root and path-suffixed documents, derived from the request', async () => {
    const { base } = await startServer({ auth: { tokens: [TOKEN], requiredScopes: ['mcp'], toolScopes: { echo: ['tools:echo'] } } });
    const root = await get(base, '/.well-known/oauth-protected-resource');
    expect(root.status).toBe(200);
    expect(root.headers['content-type']).toBe('application/json');
    expect(root.headers['access-control-allow-origin']).toBe('*');
    expect(JSON.parse(root.body)).toEqual({
      resource: `${base}/ws`,
      scopes_supported: ['mcp', 'tools:echo'],
      bearer_methods_supported: ['header'],
    });
    const mcp = JSON.parse((await get(base, '/.well-known/oauth-protected-resource/mcp')).body) as { resource: string };
    expect(mcp.resource).toBe(`${base}/mcp`);
    // A path that is not an endpoint names no resource of this server.
    expect((await get(base, '/.well-known/oauth-protected-resource/other')).status).toBe(404);
    // No credential needed to read it: it is how a client learns where to get one.
    expect((await get(base, '/.well-known/oauth-protected-resource/ws')).status).toBe(200);
  });

  it('points every 401 to the metadata of the endpoint asked for: WebSocket upgrade and HTTP', async () => {
    const { base, url } = await startServer({ auth: { tokens: [TOKEN] } });
    const ws = await upgrade(url);
    expect(ws.status).toBe(401);
    const wsHeader = ws.headers['www-authenticate'];
    expect(wsHeader).toBe(`Bearer realm="mcp-ws", error="invalid_request", resource_metadata="${base}/.well-known/oauth-protected-resource/ws"`);
    const wrong = await upgrade(url, { Authorization: `Bearer ${TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(metadataUrlOf(wrong.headers['www-authenticate'])).toBe(`${base}/.well-known/oauth-protected-resource/ws`);
    const post = await get(
      base,
      '/mcp',
      { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      'POST',
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    );
    expect(post.status).toBe(401);
    const pointed = metadataUrlOf(post.headers['www-authenticate']);
    expect(pointed).toBe(`${base}/.well-known/oauth-protected-resource/mcp`);
    // The URL a 401 names serves the document of that endpoint.
    const doc = await get(base, pointed.slice(base.length));
    expect(JSON.parse(doc.body)).toMatchObject({ resource: `${base}/mcp` });
    // With a valid credential the endpoint answers as before.
    const ok = await upgrade(url, { Authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(101);
    ok.ws!.terminate();
  });

  it('serves the configured resource and the JWT issuer as authorization server; a token of that issuer verifies', async () => {
    const { base, url } = await startServer({
      auth: {
        jwt: { secret: SECRET, issuer: ISSUER, audience: 'https://mcp.example.test/mcp' },
        protectedResource: { resource: 'https://mcp.example.test/mcp', resourceName: 'Example tools' },
      },
    });
    const doc = await get(base, '/.well-known/oauth-protected-resource/mcp');
    expect(doc.status).toBe(200);
    expect(JSON.parse(doc.body)).toEqual({
      resource: 'https://mcp.example.test/mcp',
      authorization_servers: [ISSUER],
      bearer_methods_supported: ['header'],
      resource_name: 'Example tools',
    });
    // Root form too (MCP clients fall back to it); other suffixes name nothing.
    expect(JSON.parse((await get(base, '/.well-known/oauth-protected-resource')).body)).toMatchObject({ resource: 'https://mcp.example.test/mcp' });
    expect((await get(base, '/.well-known/oauth-protected-resource/ws')).status).toBe(404);
    const refused = await upgrade(url);
    expect(metadataUrlOf(refused.headers['www-authenticate'])).toBe('https://mcp.example.test/.well-known/oauth-protected-resource/mcp');
    const jwt = await new SignJWT({ scope: 'mcp' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience('https://mcp.example.test/mcp')
      .setSubject('alice')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    const ok = await upgrade(url, { Authorization: `Bearer ${jwt}` });
    expect(ok.status).toBe(101);
    ok.ws!.terminate();
    const otherIssuer = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://elsewhere.example.test')
      .setAudience('https://mcp.example.test/mcp')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    expect((await upgrade(url, { Authorization: `Bearer ${otherIssuer}` })).status).toBe(401);
  });

  it('refuses a Host outside allowedHosts and a hostile Host never reaches a header', async () => {
    const { base, url } = await startServer({ auth: { tokens: [TOKEN] } });
    expect((await get(base, '/.well-known/oauth-protected-resource', { Host: 'evil.example' })).status).toBe(403);
    const r = await upgrade(url, { Host: 'evil.example' });
    expect(r.status).toBe(403);
    expect(r.headers['www-authenticate']).toBeUndefined();
  });

  it('a 403 (insufficient scope) carries no resource_metadata; HEAD and methods other than GET behave', async () => {
    const { base, url } = await startServer({ auth: { tokens: [{ token: TOKEN, scopes: ['read'] }], requiredScopes: ['admin'] } });
    const r = await upgrade(url, { Authorization: `Bearer ${TOKEN}` });
    expect(r.status).toBe(403);
    expect(String(r.headers['www-authenticate'] ?? '')).not.toContain('resource_metadata');
    const head = await get(base, '/.well-known/oauth-protected-resource', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect((await get(base, '/.well-known/oauth-protected-resource', {}, 'POST', '{}')).status).toBe(405);
  });

  it('validates its settings with one-line errors', () => {
    expect(() => new Authenticator({ tokens: [TOKEN], protectedResource: { resource: 'ftp://x.example/mcp' } })).toThrow(
      /auth\.protectedResource\.resource should be an http/,
    );
    expect(() => new Authenticator({ tokens: [TOKEN], protectedResource: { resource: 'https://x.example/mcp#frag' } })).toThrow(/fragment/);
    expect(() => new Authenticator({ tokens: [TOKEN], protectedResource: { authorizationServers: ['not a url'] } })).toThrow(
      /authorizationServers\[0\]/,
    );
    const config = parseServeConfig({
      auth: { tokens: [TOKEN], protectedResource: { resource: 'https://x.example/mcp', authorizationServers: [ISSUER], scopesSupported: ['a'] } },
    });
    expect(resolveAuth(config.auth, {})?.protectedResource).toEqual({
      resource: 'https://x.example/mcp',
      authorizationServers: [ISSUER],
      scopesSupported: ['a'],
    });
    expect(() => parseServeConfig({ auth: { tokens: [TOKEN], protectedResource: { resourceUrl: 'https://x.example' } } })).toThrow(/resourceUrl/);
  });
});
