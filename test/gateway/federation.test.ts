/**
 * Federation: three different stdio servers (the reference server-everything,
 * our notes server and our test fixture) behind one gateway endpoint, used by
 * the official SDK Client over WebSocket. Then the hostile cases: colliding
 * prefixes, forged cursors, a server with thousands of tools, a server whose
 * list call hangs, names with the separator inside, filters and scopes.
 */
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import {
  LoggingMessageNotificationSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { McpWsFederation, type McpWsFederationOptions } from '../../src/gateway/federation.js';
import { killAllStdioChildren } from '../../src/gateway/upstream-stdio.js';
import { McpWsServer } from '../../src/server/server.js';
import type { McpWsServerOptions } from '../../src/server/server-options.js';
import { McpWsClient } from '../../src/transport/client.js';
import { federationOptions, resolveGatewayConfig } from '../../src/cli/gateway.js';
import { parseGatewaySection } from '../../src/gateway/config.js';
import { EVERYTHING, FIXTURE, until } from './helpers.js';

(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

const NOTES = fileURLToPath(new URL('./fixtures/federation-server.mjs', import.meta.url));
const started: Array<{ server: McpWsServer; fed: McpWsFederation }> = [];
const clients: Array<{ close(): Promise<void> }> = [];
const debugLines: string[] = [];

function notes(env: Record<string, string> = {}) {
  return { command: process.execPath, args: [NOTES], env: { FED_NAME: 'notes', ...env }, name: 'notes' };
}

/** A logger whose lines the test can read. */
function captured(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  debugLines.push('---\n');
  const tee = new Writable({
    write(chunk: Buffer, enc, done) {
      debugLines.push(chunk.toString());
      stream.write(chunk, enc, done);
    },
  });
  return { logger: pino({ level: 'info' }, tee), lines };
}

/** Timeouts for a machine under heavy load: a child process may take seconds to start. */
const SLOW = { connectTimeoutMs: 60_000, acquireTimeoutMs: 60_000, healthCheckIntervalMs: 0 };

async function startFederation(options: McpWsFederationOptions, serverOptions: Partial<McpWsServerOptions> = {}): Promise<{ fed: McpWsFederation; url: string }> {
  for (const s of Object.values(options.servers)) s.pool = { ...SLOW, ...s.pool };
  const fed = new McpWsFederation({ initializeTimeoutMs: 60_000, ...options });
  await fed.start();
  const server = new McpWsServer({ handler: fed, port: 0, processMetrics: false, drainTimeoutMs: 500, metrics: fed.metrics(), ...serverOptions });
  const address = await server.listen();
  started.push({ server, fed });
  return { fed, url: address.url };
}

async function sdkClient(url: string, headers?: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'federation-test', version: '1.0.0' }, { capabilities: {} });
  const transport = new WebSocketClientTransport(new URL(url));
  if (headers) {
    // The SDK's WebSocket transport sends no headers; the token rides in the mcp.auth subprotocol instead.
    throw new Error('use rawClient for authenticated sessions');
  }
  await client.connect(transport);
  clients.push(client);
  return client;
}

async function rawClient(url: string, headers?: Record<string, string>): Promise<McpWsClient> {
  const c = await McpWsClient.connect(url, { headers, requestTimeoutMs: 30_000, heartbeat: false });
  clients.push(c);
  await c.initialize({ name: 'federation-raw', version: '1' }, '2025-06-18', {});
  return c;
}

/** Every item of a list, following cursors (bounded). */
async function all<T>(page: (cursor?: string) => Promise<{ nextCursor?: string } & Record<string, unknown>>, key: string): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const r = await page(cursor);
    items.push(...(r[key] as T[]));
    cursor = r.nextCursor;
    pages++;
  } while (cursor !== undefined && pages < 100);
  return { items, pages };
}

function firstText(r: unknown): string {
  return (r as { content: Array<{ text: string }> }).content[0]!.text;
}

afterAll(async () => {
  if (process.env.FED_DEBUG) (await import('node:fs')).writeFileSync(process.env.FED_DEBUG, debugLines.join(''));
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  for (const { server, fed } of started.splice(0)) {
    await server.close();
    await fed.close();
  }
  killAllStdioChildren();
});

describe('three different stdio servers behind one endpoint', { timeout: 180_000 }, () => {
  let url = '';
  let c: Client;
  const log = captured();

  beforeAll(async () => {
    ({ url } = await startFederation({
      servers: {
        everything: { upstreams: [{ command: process.execPath, args: [EVERYTHING, 'stdio'], name: 'everything' }], pool: { minConnections: 1 } },
        notes: { upstreams: [notes()], pool: { minConnections: 1, healthCheckIntervalMs: 0 } },
        fixture: { upstreams: [{ command: process.execPath, args: [FIXTURE], env: { FIXTURE_NAME: 'fixture' }, name: 'fixture' }] },
      },
      reviveInitialDelayMs: 200,
      reviveMaxDelayMs: 2000,
      logger: log.logger,
    }));
    // One client for the whole block: each client session holds a child process of every server.
    c = await sdkClient(url);
  }, 180_000);

  it('merges the handshake: union of capabilities, instructions under each server name', async () => {
    expect(c.getServerVersion()?.name).toBe('mcp-ws-federation');
    const caps = c.getServerCapabilities()!;
    expect(caps.tools?.listChanged).toBe(true);
    expect(caps.prompts).toBeDefined();
    expect(caps.resources).toBeDefined();
    // server-everything supports subscriptions, so the union does.
    expect(caps.resources?.subscribe).toBe(true);
    const instructions = c.getInstructions() ?? '';
    expect(instructions).toContain('## notes\n\nUse notes to keep notes.');
  });

  it('lists prefixed tools of every server and routes calls by prefix', async () => {
    const { items } = await all<Tool>((cursor) => c.listTools(cursor ? { cursor } : {}) as never, 'tools');
    const names = items.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['everything_echo', 'everything_get-sum', 'notes_note', 'notes_pid', 'fixture_echo', 'fixture_bump']));
    expect(new Set(names).size).toBe(names.length);
    expect(names.every((n) => /^(everything|notes|fixture)_/.test(n))).toBe(true);
    expect(firstText(await c.callTool({ name: 'everything_echo', arguments: { message: 'hi' } }))).toContain('hi');
    expect(firstText(await c.callTool({ name: 'fixture_echo', arguments: { text: 'there' } }))).toBe('there');
    expect(firstText(await c.callTool({ name: 'notes_note', arguments: { text: 'first' } }))).toBe('noted 1');
    await expect(c.callTool({ name: 'nobody_echo', arguments: {} })).rejects.toThrow(/Unknown tool/);
  });

  it('maps resource URIs and templates reversibly, and reads through them; resource links in results too', async () => {
    const noted = await c.callTool({ name: 'notes_note', arguments: { text: 'linked' } });
    const link = (noted.content as Array<{ type: string; uri?: string }>).find((x) => x.type === 'resource_link')!;
    expect(link.uri).toMatch(/^notes\+notes:\/\/note\/\d+$/);
    const linked = await c.readResource({ uri: link.uri! });
    expect((linked.contents[0] as { text: string }).text).toBe('linked');
    expect(linked.contents[0]!.uri).toBe(link.uri);
    const { items: resources } = await all<{ uri: string }>((cursor) => c.listResources(cursor ? { cursor } : {}) as never, 'resources');
    const uris = resources.map((r) => r.uri);
    expect(uris).toContain('notes+notes://all');
    const everythingUri = uris.find((u) => u.includes('+everything:'))!;
    expect(everythingUri).toBeDefined();
    const read = await c.readResource({ uri: everythingUri });
    expect(read.contents[0]!.uri).toBe(everythingUri);
    const all1 = await c.readResource({ uri: 'notes+notes://all' });
    expect((all1.contents[0] as { text: string }).text).toContain('linked');
    const { resourceTemplates } = await c.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toContain('notes+notes://note/{id}');
    await expect(c.readResource({ uri: 'notes://all' })).rejects.toThrow(/Unknown resource/);
  });

  it('lists prompts of every server and gets one by its prefixed name', async () => {
    const { prompts } = await c.listPrompts();
    const names = prompts.map((p) => p.name);
    expect(names).toContain('notes_recap');
    expect(names.some((n) => n.startsWith('everything_'))).toBe(true);
    const got = await c.getPrompt({ name: 'notes_recap', arguments: { topic: 'rivers' } });
    expect((got.messages[0]!.content as { text: string }).text).toBe('Recap rivers from notes');
  });

  it('delivers notifications from each server: logs and list_changed', async () => {
    const logs: string[] = [];
    let resourcesChanged = 0;
    c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
    c.setNotificationHandler(ResourceListChangedNotificationSchema, () => void resourcesChanged++);
    await c.setLoggingLevel('info');
    await c.callTool({ name: 'notes_note', arguments: { text: 'ping' } });
    await until(() => logs.includes('noted ping') && resourcesChanged > 0, 15_000, 'log and list_changed from notes');
    // server-everything's own notification tool reaches the same client.
    await c.callTool({ name: 'everything_trigger-long-running-operation', arguments: { duration: 0.2, steps: 2 } }).catch(() => undefined);
    expect(logs).toContain('noted ping');
  });

  it('a server killed mid-session leaves the lists with list_changed, the others keep working, and it comes back', async () => {
    let toolsChanged = 0;
    let promptsChanged = 0;
    c.setNotificationHandler(ToolListChangedNotificationSchema, () => void toolsChanged++);
    c.setNotificationHandler(PromptListChangedNotificationSchema, () => void promptsChanged++);
    const pid = Number(firstText(await c.callTool({ name: 'notes_pid', arguments: {} })));
    expect(pid).toBeGreaterThan(0);
    const leftBefore = log.lines.filter((l) => l.includes('federated server left the session')).length;
    const backBefore = log.lines.filter((l) => l.includes('federated server back in the session')).length;
    const before = { tools: toolsChanged, prompts: promptsChanged };
    process.kill(pid, 'SIGKILL');
    await until(() => log.lines.filter((l) => l.includes('federated server left the session')).length > leftBefore, 30_000, 'notes to leave');
    await until(() => toolsChanged > before.tools && promptsChanged > before.prompts, 30_000, 'list_changed after the kill');
    const atLoss = toolsChanged;
    const during = (await c.listTools()).tools.map((t) => t.name);
    // Either still gone, or already back on a new process: never a failed session.
    if (!during.includes('notes_note')) {
      expect(during).toContain('everything_echo');
      await expect(c.callTool({ name: 'notes_pid', arguments: {} })).rejects.toThrow(/unavailable/);
    }
    expect(firstText(await c.callTool({ name: 'fixture_echo', arguments: { text: 'still here' } }))).toBe('still here');
    expect(firstText(await c.callTool({ name: 'everything_echo', arguments: { message: 'and here' } }))).toContain('and here');
    await until(() => log.lines.filter((l) => l.includes('federated server back in the session')).length > backBefore, 60_000, 'notes to come back');
    await until(() => toolsChanged > atLoss, 30_000, 'list_changed when notes is back');
    const after = (await c.listTools()).tools.map((t) => t.name);
    expect(after).toContain('notes_note');
    const again = Number(firstText(await c.callTool({ name: 'notes_pid', arguments: {} })));
    expect(again).not.toBe(pid);
  }, 180_000);
});

describe('hostile federations', { timeout: 240_000 }, () => {
  it('refuses colliding prefixes at start with one line', () => {
    const up = [notes()];
    expect(() => new McpWsFederation({ servers: { a: { upstreams: up }, b: { upstreams: up, prefix: 'a' } } })).toThrow(/^servers\.b: prefix "a" collides with server a's$/);
    expect(() => new McpWsFederation({ servers: { a: { upstreams: up }, 'a-b': { upstreams: up } }, separator: '-' })).toThrow(/could not be told apart/);
    expect(() => new McpWsFederation({ servers: { a: { upstreams: up, prefix: '' }, b: { upstreams: up, prefix: '' } } })).toThrow(/only one server may have the empty prefix/);
    expect(() => new McpWsFederation({ servers: { 'bad name': { upstreams: up } } })).toThrow(/letters, digits/);
    expect(() => new McpWsFederation({ servers: {} })).toThrow(/at least one server/);
    // The CLI's flags, as the command line gives them.
    expect(() => resolveGatewayConfig({ server: ['a=node x.js', 'a=node y.js'] })).toThrow(/--server a is given twice/);
    expect(() => resolveGatewayConfig({ server: ['=node x.js'] })).toThrow(/--server should be name=/);
    expect(() => resolveGatewayConfig({ server: ['a=node x.js'], upstream: ['node y.js'] })).toThrow(/not both/);
    const ok = resolveGatewayConfig({ server: ['gh=ws://127.0.0.1:9/ws', 'files=node files.js'] });
    expect(Object.keys(ok.gateway.servers!)).toEqual(['gh', 'files']);
  });

  it('merges thousands of tools in bounded pages, refuses forged cursors, and answers without a server whose list hangs', async () => {
    const log = captured();
    const { url } = await startFederation({
      servers: {
        big: { upstreams: [notes({ FED_NAME: 'big', FED_TOOLS: '3000' })] },
        hung: { upstreams: [notes({ FED_NAME: 'hung', FED_HANG_LIST: '1' })] },
        small: { upstreams: [notes({ FED_NAME: 'small', FED_EXTRA_TOOLS: 'x_y,small_z' })] },
        bare: { upstreams: [notes({ FED_NAME: 'bare', FED_EXTRA_TOOLS: 'small_shadow,plain' })], prefix: '' },
      },
      listTimeoutMs: 10_000,
      maxListItemsPerServer: 400,
      logger: log.logger,
    });
    const c = await rawClient(url);
    const pages: Array<{ tools: Array<{ name: string }>; nextCursor?: string }> = [];
    let cursor: string | undefined;
    do {
      const r = (await c.request('tools/list', cursor ? { cursor } : {})) as { tools: Array<{ name: string }>; nextCursor?: string };
      pages.push(r);
      cursor = r.nextCursor;
    } while (cursor !== undefined && pages.length < 50);
    const names = pages.flatMap((p) => p.tools.map((t) => t.name));
    const big = names.filter((n) => n.startsWith('big_'));
    expect(big).toHaveLength(3002);
    expect(new Set(names).size).toBe(names.length);
    for (const p of pages) expect(p.tools.filter((t) => t.name.startsWith('big_')).length).toBeLessThanOrEqual(400);
    expect(pages.length).toBe(Math.ceil(3002 / 400));
    // The hung server is left out, marked in a log line; the others answered.
    expect(names.some((n) => n.startsWith('hung_'))).toBe(false);
    expect(log.lines.some((l) => l.includes('federated list answered without this server') && l.includes('"server":"hung"'))).toBe(true);
    // Names with the separator inside route by the longest prefix.
    expect(names).toContain('small_x_y');
    expect(names).toContain('small_small_z');
    expect(firstText(await c.request('tools/call', { name: 'small_x_y', arguments: {} }))).toBe('x_y');
    expect(firstText(await c.request('tools/call', { name: 'small_small_z', arguments: {} }))).toBe('small_z');
    // The unprefixed server's tool named like another server's is dropped (it would route there), with a log line.
    expect(names).toContain('plain');
    expect(names).not.toContain('small_shadow');
    expect(log.lines.some((l) => l.includes('federated name dropped') && l.includes('small_shadow'))).toBe(true);
    expect(firstText(await c.request('tools/call', { name: 'plain', arguments: {} }))).toBe('plain');
    // Forged cursors: tampered, made up, from another list.
    const real = pages[0]!.nextCursor!;
    const tampered = `${real.slice(0, 5)}${real[5] === 'A' ? 'B' : 'A'}${real.slice(6)}`;
    for (const bad of [tampered, 'bm9wZQ.AAAA', 'not a cursor', 42]) {
      await expect(c.request('tools/list', { cursor: bad })).rejects.toMatchObject({ code: -32602 });
    }
    await expect(c.request('prompts/list', { cursor: real })).rejects.toMatchObject({ code: -32602 });
  }, 240_000);

  it('hides filtered tools and tools whose scope the caller lacks, and refuses calls to them', async () => {
    const TOKEN = 'federation-token-0123456789';
    const OPS = 'federation-ops-token-012345';
    const { url } = await startFederation(
      {
        servers: {
          notes: { upstreams: [notes({ FED_EXTRA_TOOLS: 'secret,admin_reset' })], denyTools: ['secret'], toolScopes: { 'admin_*': ['ops'] } },
          fixture: { upstreams: [{ command: process.execPath, args: [FIXTURE], name: 'fixture' }], allowTools: ['echo', 'p*'] },
        },
      },
      { auth: { tokens: [{ token: TOKEN, scopes: ['read'] }, { token: OPS, scopes: ['ops'] }] } },
    );
    const reader = await rawClient(url, { Authorization: `Bearer ${TOKEN}` });
    const names = ((await reader.request('tools/list', {})) as { tools: Array<{ name: string }> }).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['notes_note', 'fixture_echo', 'fixture_pid']));
    for (const hidden of ['notes_secret', 'notes_admin_reset', 'fixture_bump', 'fixture_slow']) expect(names).not.toContain(hidden);
    await expect(reader.request('tools/call', { name: 'notes_admin_reset', arguments: {} })).rejects.toMatchObject({ code: -32013 });
    await expect(reader.request('tools/call', { name: 'notes_secret', arguments: {} })).rejects.toMatchObject({ code: -32602 });
    await expect(reader.request('tools/call', { name: 'fixture_bump', arguments: {} })).rejects.toMatchObject({ code: -32602 });
    const ops = await rawClient(url, { Authorization: `Bearer ${OPS}` });
    const opsNames = ((await ops.request('tools/list', {})) as { tools: Array<{ name: string }> }).tools.map((t) => t.name);
    expect(opsNames).toContain('notes_admin_reset');
    expect(firstText(await ops.request('tools/call', { name: 'notes_admin_reset', arguments: {} }))).toBe('admin_reset');
  }, 180_000);

  it('reads gateway.servers from a config file with one-line errors, per-server settings over the section defaults', () => {
    const section = parseGatewaySection(
      {
        pool: { minConnections: 2 },
        retry: { maxRetries: 1 },
        separator: '.',
        servers: {
          gh: { upstream: 'ws://127.0.0.1:9/ws', pool: { maxConnections: 5, loadBalanceStrategy: 'least-connections' }, denyTools: ['delete_*'] },
          fs: { upstreams: ['node fs.js'], prefix: 'files', toolScopes: { 'write*': ['fs:write'] } },
        },
      },
      'gw.json',
    );
    const options = federationOptions(section, pino({ level: 'silent' }));
    expect(options.separator).toBe('.');
    expect(options.servers.gh!.pool).toEqual({ minConnections: 2, maxConnections: 5, loadBalanceStrategy: 'LeastConnections' });
    expect(options.servers.gh!.retry).toEqual({ maxRetries: 1 });
    expect(options.servers.gh!.upstreams).toEqual(['ws://127.0.0.1:9/ws']);
    expect(options.servers.fs!.prefix).toBe('files');
    const fed = new McpWsFederation(options);
    expect(fed.routeName('files.write_x')?.[0].name).toBe('fs');
    expect(fed.routeUri('file+files:///tmp/a')?.[1]).toBe('file:///tmp/a');
    expect(() => parseGatewaySection({ servers: { a: { upstream: 'node a.js' } }, upstreams: ['node b.js'] }, 'gw.json')).toThrow(/either upstreams .* or servers/);
    expect(() => parseGatewaySection({ servers: { a: {} } }, 'gw.json')).toThrow(/gw\.json: gateway\.servers\.a: give one of "upstream" or "upstreams"/);
    expect(() => parseGatewaySection({ servers: { a: { upstream: 'node a.js', prefx: 'x' } } }, 'gw.json')).toThrow(/prefx/);
    expect(() => parseGatewaySection({ servers: { a: { upstream: { url: 'ftp://x' } } } }, 'gw.json')).toThrow(/servers\.a\./);
  });

  it('serves a 2026-07-28 client: server/discover merged, lists prefixed, calls routed by prefix', async () => {
    const { url } = await startFederation({
      servers: { one: { upstreams: [notes({ FED_NAME: 'one' })] }, two: { upstreams: [notes({ FED_NAME: 'two', FED_EXTRA_TOOLS: 'only_two' })] } },
    });
    const ws = new WebSocket(url, ['mcp']);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const waiting = new Map<unknown, (m: Record<string, unknown>) => void>();
    ws.on('message', (data) => {
      const m = JSON.parse((data as Buffer).toString()) as Record<string, unknown>;
      if (m.method === undefined) waiting.get(m.id)?.(m);
    });
    const META = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
      'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
    };
    const ask = (id: number, method: string, params: Record<string, unknown> = {}) =>
      new Promise<Record<string, unknown>>((resolve) => {
        waiting.set(id, resolve);
        ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: META } }));
      });
    try {
      const discover = (await ask(1, 'server/discover')) as { result: { capabilities: Record<string, unknown>; instructions?: string; supportedVersions?: string[] } };
      expect(discover.result.capabilities.tools).toBeDefined();
      expect(discover.result.instructions).toContain('## one');
      expect(discover.result.instructions).toContain('## two');
      const list = (await ask(2, 'tools/list')) as { result: { tools: Array<{ name: string }> } };
      const names = list.result.tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['one_note', 'two_note', 'two_only_two']));
      const call = (await ask(3, 'tools/call', { name: 'two_only_two', arguments: {} })) as { result: unknown };
      expect(firstText(call.result)).toBe('only_two');
      const unknown = (await ask(4, 'tools/call', { name: 'three_x', arguments: {} })) as { error: { code: number } };
      expect(unknown.error.code).toBe(-32602);
    } finally {
      ws.terminate();
    }
  });
});
