/** Upstream strings, the gateway config section, pool presets. */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadGatewayConfigFile, parseGatewaySection, parseUpstream, parseUpstreams } from '../../src/gateway/config.js';
import { POOL_PRESETS, resolvePoolConfig } from '../../src/gateway/pool-config.js';
import { splitCommandLine } from '../../src/gateway/upstream-spec.js';

const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-gw-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('upstreams', () => {
  it('tells the kind from the string', () => {
    expect(parseUpstream('ws://127.0.0.1:9000/ws')).toMatchObject({ kind: 'ws', name: 'ws:127.0.0.1:9000/ws' });
    expect(parseUpstream('https://mcp.example/mcp')).toMatchObject({ kind: 'http' });
    expect(parseUpstream('node "my server.js" --flag')).toMatchObject({
      kind: 'stdio',
      command: 'node',
      args: ['my server.js', '--flag'],
      name: 'stdio:node my server.js',
      transport: 'line',
      inheritEnv: false,
    });
  });

  it('makes default names unique and rejects explicit duplicates', () => {
    expect(parseUpstreams(['node a.js', 'node a.js']).map((s) => s.name)).toEqual(['stdio:node a.js', 'stdio:node a.js#2']);
    expect(() => parseUpstreams([{ url: 'ws://a/ws', name: 'x' }, { url: 'ws://b/ws', name: 'x' }])).toThrow('name "x" is used twice');
  });

  it('splits command lines like a shell, without expansion', () => {
    expect(splitCommandLine(`a 'b c' "d \\"e\\"" f\\ g $HOME`)).toEqual(['a', 'b c', 'd "e"', 'f g', '$HOME']);
    expect(() => splitCommandLine('a "b')).toThrow('unterminated "');
  });

  it('explains a bad upstream', () => {
    expect(() => parseUpstream({ url: 'ftp://x' })).toThrow('upstreams[0]: url should be a ws://, wss://, http:// or https:// URL');
    expect(() => parseUpstream({ cmd: 'x' } as never)).toThrow('needs "url" or "command"');
  });
});

describe('gateway config section', () => {
  it('points a pool setting written at the top to pool.', () => {
    expect(() => parseGatewaySection({ minConnections: 3 })).toThrow('did you mean "pool.minConnections"?');
  });

  it('suggests the right key for a misspelt one', () => {
    expect(() => parseGatewaySection({ pool: { min_connections: 3 } })).toThrow('did you mean "minConnections"?');
  });

  it('accepts the seed strategy names and kebab-case', () => {
    expect(parseGatewaySection({ pool: { loadBalanceStrategy: 'least-connections' } }).pool?.loadBalanceStrategy).toBe('LeastConnections');
    expect(() => parseGatewaySection({ pool: { loadBalanceStrategy: 'fastest' } })).toThrow('loadBalanceStrategy should be one of');
  });

  it('loads a file with serve settings and a gateway section', () => {
    const file = join(dir, 'gw.json');
    writeFileSync(file, JSON.stringify({ port: 0, gateway: { upstreams: ['node x.js'], preset: 'high-availability', onUpstreamLost: 'reestablish' } }));
    const c = loadGatewayConfigFile(file);
    expect(c.serve.port).toBe(0);
    expect(c.gateway.preset).toBe('high-availability');
  });
});

describe('pool settings', () => {
  it('the seed presets resolve as written', () => {
    expect(resolvePoolConfig(POOL_PRESETS['high-throughput'])).toMatchObject({
      minConnections: 10,
      maxConnections: 1000,
      loadBalanceStrategy: 'Random',
      enableAutoScaling: true,
      scaleUpThreshold: 0.7,
      scaleDownThreshold: 0.3,
      healthCheckIntervalMs: 10_000,
    });
    expect(resolvePoolConfig(POOL_PRESETS['high-availability'])).toMatchObject({
      minConnections: 20,
      maxConnections: 500,
      loadBalanceStrategy: 'LeastConnections',
      scaleUpThreshold: 0.8,
      scaleDownThreshold: 0.2,
      healthCheckIntervalMs: 5_000,
    });
  });

  it('names a bad setting and repeats the value', () => {
    expect(() => resolvePoolConfig({ minConnections: 5, maxConnections: 2 })).toThrow('minConnections (5) should be at most maxConnections (2)');
    expect(() => resolvePoolConfig({ scaleUpThreshold: 0.2, scaleDownThreshold: 0.5 })).toThrow('scaleDownThreshold (0.5) should be below scaleUpThreshold (0.2)');
    expect(() => resolvePoolConfig({ scaleUpThreshold: 2 })).toThrow('scaleUpThreshold should be a number from 0 to 1, got 2');
  });
});
