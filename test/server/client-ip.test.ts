/**
 * ClientIp: which address per-IP limits and logs use. Hostile first: forged
 * X-Forwarded-For from untrusted peers, chains with forged left parts,
 * garbage entries, IPv4-mapped IPv6 peers, huge headers.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ClientIp, trustedProxyList } from '../../src/server/client-ip.js';

const req = (xff?: string | string[]): IncomingMessage => ({ headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

describe('ClientIp', () => {
  const ip = new ClientIp(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);

  it('believes nothing from a peer that is not a trusted proxy', () => {
    expect(ip.of(req('1.2.3.4'), '192.0.2.9')).toBe('192.0.2.9');
    expect(new ClientIp(undefined).of(req('1.2.3.4'), '127.0.0.1')).toBe('127.0.0.1');
    expect(new ClientIp([]).of(req('1.2.3.4'), '127.0.0.1')).toBe('127.0.0.1');
  });

  it('takes the right-most untrusted entry: a forged left part is ignored', () => {
    expect(ip.of(req('6.6.6.6, 203.0.113.5'), '127.0.0.1')).toBe('203.0.113.5');
    expect(ip.of(req('6.6.6.6, 203.0.113.5, 10.1.2.3'), '127.0.0.1')).toBe('203.0.113.5');
    expect(ip.of(req(['6.6.6.6', '203.0.113.5']), '127.0.0.1')).toBe('203.0.113.5');
  });

  it('an all-trusted chain is the left-most proxy; no header is the peer', () => {
    expect(ip.of(req('10.9.9.9, 10.1.1.1'), '127.0.0.1')).toBe('10.9.9.9');
    expect(ip.of(req(), '127.0.0.1')).toBe('127.0.0.1');
  });

  it('garbage stops the walk at the last trusted hop', () => {
    expect(ip.of(req('203.0.113.5, not-an-ip'), '127.0.0.1')).toBe('127.0.0.1');
    expect(ip.of(req('203.0.113.5, 10.0.0.7, <script>'), '127.0.0.1')).toBe('127.0.0.1');
    expect(ip.of(req('unknown, 10.0.0.7'), '127.0.0.1')).toBe('10.0.0.7');
    expect(ip.of(req(''), '127.0.0.1')).toBe('127.0.0.1');
  });

  it('matches IPv4 rules for IPv4-mapped IPv6 peers, and IPv6 ranges', () => {
    expect(ip.of(req('203.0.113.5'), '::ffff:127.0.0.1')).toBe('203.0.113.5');
    expect(ip.of(req('2001:db8::1'), 'fd12::1')).toBe('2001:db8::1');
    expect(ip.of(req('2001:db8::1'), '::1')).toBe('::1');
  });

  it('a header of 10,000 entries costs one pass and ends at the right-most untrusted one', () => {
    const big = `${Array.from({ length: 10_000 }, (_, i) => `6.6.${i % 256}.1`).join(', ')}, 203.0.113.5`;
    expect(ip.of(req(big), '127.0.0.1')).toBe('203.0.113.5');
  });

  it('refuses malformed entries with a message naming the entry', () => {
    for (const bad of ['localhost', '10.0.0.0/33', '10.0.0.0/8/1', 'fd00::/129', '10.0.0.0/x', '']) {
      expect(() => trustedProxyList(['127.0.0.1', bad])).toThrow(/^trustedProxies\[1\] should be an IP address or CIDR range/);
    }
  });
});
