/**
 * Negotiation tables, and the same negotiation through a real ws handshake:
 * ws selects exactly one subprotocol, and a client that knows nothing of
 * codecs gets plain `mcp`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  CodecNegotiator,
  clientSubprotocols,
  codecNameOf,
  createCodec,
  createNegotiator,
  negotiateCodec,
  resolveCompressionConfig,
  type CodecName,
} from '../../src/compression/index.js';

const ALL: CodecName[] = ['zstd', 'br', 'gzip', 'deflate'];
const codecs = (names: CodecName[]) => names.map((n) => createCodec(n));

describe('negotiateCodec', () => {
  it.each([
    // offered, server preference, selected protocol, codec
    [['mcp.gzip', 'mcp.zstd', 'mcp'], ALL, 'mcp.zstd', 'zstd'],
    [['mcp.zstd', 'mcp.gzip', 'mcp'], ['gzip', 'zstd'], 'mcp.gzip', 'gzip'],
    [['mcp.deflate', 'mcp'], ALL, 'mcp.deflate', 'deflate'],
    [['mcp.br', 'mcp.deflate'], ALL, 'mcp.br', 'br'],
    [['mcp.zstd'], ['gzip'], false, undefined],
    [['mcp.zstd', 'mcp'], ['gzip'], 'mcp', undefined],
    [['mcp'], ALL, 'mcp', undefined],
    [[], ALL, false, undefined],
    [['chat', 'superchat'], ALL, false, undefined],
    [['mcp.lz4', 'mcp'], ALL, 'mcp', undefined],
    [['MCP.ZSTD', 'mcp'], ALL, 'mcp', undefined],
    [['mcp.auth.dG9rZW4', 'mcp.zstd', 'mcp'], ALL, 'mcp.zstd', 'zstd'],
    [['mcp.gzip', 'mcp'], [], 'mcp', undefined],
  ] as Array<[string[], CodecName[], string | false, CodecName | undefined]>)(
    'offered %j, server prefers %j → %s',
    (offered, preference, protocol, codec) => {
      const r = negotiateCodec(new Set(offered), codecs(preference));
      expect(r.protocol).toBe(protocol);
      expect(r.codec?.name).toBe(codec);
    },
  );
});

describe('CodecNegotiator', () => {
  it('selects for handleProtocols and finds the codec from ws.protocol', () => {
    const n = new CodecNegotiator(codecs(['br', 'gzip', 'br']));
    expect(n.codecs.map((c) => c.name)).toEqual(['br', 'gzip']);
    expect(n.select(new Set(['mcp.gzip', 'mcp.br']))).toBe('mcp.br');
    expect(n.codecFor('mcp.gzip')?.name).toBe('gzip');
    expect(n.codecFor('mcp')).toBeUndefined();
    expect(n.codecFor('')).toBeUndefined();
  });

  it('is built from the resolved config, in its order, at its levels', () => {
    const n = createNegotiator(resolveCompressionConfig({ algorithms: ['gzip', 'zstd'], levels: { gzip: 1, zstd: 7 } }));
    expect(n.codecs.map((c) => [c.name, c.level])).toEqual([
      ['gzip', 1],
      ['zstd', 7],
    ]);
    expect(createNegotiator(resolveCompressionConfig({ enabled: false })).codecs).toEqual([]);
    expect(createNegotiator(resolveCompressionConfig({ algorithms: [] })).codecs).toEqual([]);
  });
});

describe('client side', () => {
  it('offers every codec it can decode, then mcp', () => {
    expect(clientSubprotocols(['zstd', 'gzip'])).toEqual(['mcp.zstd', 'mcp.gzip', 'mcp']);
    expect(clientSubprotocols()).toEqual(['mcp.zstd', 'mcp.br', 'mcp.gzip', 'mcp.deflate', 'mcp']);
  });

  it('reads the codec from the selected subprotocol', () => {
    expect(codecNameOf('mcp.br')).toBe('br');
    expect(codecNameOf('mcp')).toBeUndefined();
    expect(codecNameOf('')).toBeUndefined();
  });
});

describe('through a ws handshake', () => {
  const negotiator = createNegotiator(resolveCompressionConfig({}));
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (offered) => negotiator.select(offered) });
  wss.on('connection', (ws) => ws.send(negotiator.codecFor(ws.protocol)?.name ?? 'plain'));
  afterAll(() => new Promise<void>((r) => wss.close(() => r())));

  async function connect(protocols: string[]): Promise<{ protocol: string; said: string }> {
    const { port } = wss.address() as { port: number };
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, protocols);
    const said = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve((d as Buffer).toString()));
      ws.once('error', reject);
    });
    const protocol = ws.protocol;
    ws.close();
    return { protocol, said };
  }

  it.each([
    [['mcp.gzip', 'mcp.zstd', 'mcp'], 'mcp.zstd', 'zstd'],
    [['mcp.gzip', 'mcp'], 'mcp.gzip', 'gzip'],
    [['mcp'], 'mcp', 'plain'],
    [[], '', 'plain'],
  ])('offered %j: both sides agree on %s', async (offered, protocol, codec) => {
    expect(await connect(offered)).toEqual({ protocol, said: codec });
  });
});
