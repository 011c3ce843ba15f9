/** Upstream strings, the gateway config section, pool presets. */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadGatewayConfigFile, parseGatewaySection, parseUpstream, parseUpstreams } from '../../src/gateway/config.js';
import { POOL_PRESETS, resolvePoolConfig } from '../../src/gateway/pool-config.js';
import { McpWsGateway } from '../../src/gateway/gateway.js';
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

describe('breaker and retry settings', () => {
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ breaker: { failureThreshold: 0 } }, 'breaker.failureThreshold should be a positive integer, got 0'],
    [{ breaker: { halfOpenAfterMs: 1.5 } }, 'breaker.halfOpenAfterMs should be a positive integer, got 1.5'],
    [{ retry: { maxRetries: -1 } }, 'retry.maxRetries should be a non-negative integer, got -1'],
    [{ retry: { initialDelayMs: 0 } }, 'retry.initialDelayMs should be a positive number, got 0'],
    [{ retry: { maxDelayMs: '5' } }, 'retry.maxDelayMs should be a positive number, got "5"'],
    [{ retry: { multiplier: 0.5 } }, 'retry.multiplier should be a number ≥ 1, got 0.5'],
  ];

  it.each(bad)('%j: refused by the config file and by the gateway, naming the setting', (section, message) => {
    const [group, values] = Object.entries(section)[0]!;
    const name = `${group}.${Object.keys(values as object)[0]!}`;
    expect(() => parseGatewaySection(section)).toThrow(`gateway.${name}`);
    expect(() => new McpWsGateway({ upstreams: ['ws://127.0.0.1:9/ws'], ...section })).toThrow(new RangeError(message));
  });

  it('refuses a backoff whose largest window is under its first', () => {
    expect(() => new McpWsGateway({ upstreams: ['ws://127.0.0.1:9/ws'], retry: { initialDelayMs: 500, maxDelayMs: 100 } })).toThrow(
      'retry.maxDelayMs should be at least retry.initialDelayMs (500), got 100',
    );
  });

  it('points a breaker or retry setting written at the top to its group', () => {
    expect(() => parseGatewaySection({ failureThreshold: 3 })).toThrow('did you mean "breaker.failureThreshold"?');
    expect(() => parseGatewaySection({ retry: { max_retries: 3 } })).toThrow('did you mean "maxRetries"?');
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
