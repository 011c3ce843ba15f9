import { describe, expect, it } from 'vitest';
import { judgeSession, sweepIntervalMs, Verdict, type SessionClocks, type SessionPolicy } from '../../src/server/session-policies.js';
import { resolveServerOptions } from '../../src/server/server-options.js';

const policy: SessionPolicy = {
  heartbeatIntervalMs: 30_000,
  heartbeatTimeoutMs: 10_000,
  slowConsumerTimeoutMs: 30_000,
  closeTimeoutMs: 5_000,
  messageTimeoutMs: 30_000,
};

const NOW = 1_000_000;

function clocks(over: Partial<SessionClocks> = {}): SessionClocks {
  return { closingAt: 0, expiresAt: 0, partialSince: 0, pausedAt: 0, readingHeld: false, pingSentAt: 0, lastSeen: NOW, ...over };
}

describe('session lifecycle policies', () => {
  it('keeps a fresh session', () => {
    expect(judgeSession(clocks(), NOW, policy)).toBe(Verdict.KEEP);
  });

  it('terminates a close handshake that stalls, and judges nothing else while closing', () => {
    expect(judgeSession(clocks({ closingAt: NOW - 4_999, expiresAt: NOW - 1 }), NOW, policy)).toBe(Verdict.KEEP);
    expect(judgeSession(clocks({ closingAt: NOW - 5_000 }), NOW, policy)).toBe(Verdict.STALLED_CLOSE);
  });

  it('closes a session whose credential expired', () => {
    expect(judgeSession(clocks({ expiresAt: NOW + 1 }), NOW, policy)).toBe(Verdict.KEEP);
    expect(judgeSession(clocks({ expiresAt: NOW }), NOW, policy)).toBe(Verdict.CREDENTIAL_EXPIRED);
  });

  it('closes a message left incomplete past messageTimeoutMs', () => {
    expect(judgeSession(clocks({ partialSince: NOW - 29_999 }), NOW, policy)).toBe(Verdict.KEEP);
    expect(judgeSession(clocks({ partialSince: NOW - 30_000 }), NOW, policy)).toBe(Verdict.MESSAGE_TIMEOUT);
  });

  it('closes a slow consumer over its queue past slowConsumerTimeoutMs', () => {
    expect(judgeSession(clocks({ pausedAt: NOW - 29_999 }), NOW, policy)).toBe(Verdict.KEEP);
    expect(judgeSession(clocks({ pausedAt: NOW - 30_000 }), NOW, policy)).toBe(Verdict.SLOW_CONSUMER);
  });

  it('pings an idle session and terminates one whose pong is overdue', () => {
    expect(judgeSession(clocks({ lastSeen: NOW - 29_999 }), NOW, policy)).toBe(Verdict.KEEP);
    expect(judgeSession(clocks({ lastSeen: NOW - 30_000 }), NOW, policy)).toBe(Verdict.PING);
    expect(judgeSession(clocks({ lastSeen: NOW - 40_000, pingSentAt: NOW - 9_999 }), NOW, policy)).toBe(Verdict.KEEP);
    expect(judgeSession(clocks({ pingSentAt: NOW - 10_000 }), NOW, policy)).toBe(Verdict.HEARTBEAT_TIMEOUT);
  });

  it('does not ping when heartbeats are off or the handler holds reading', () => {
    const idle = clocks({ lastSeen: NOW - 60_000, pingSentAt: NOW - 60_000 });
    expect(judgeSession(idle, NOW, { ...policy, heartbeatIntervalMs: 0 })).toBe(Verdict.KEEP);
    expect(judgeSession({ ...idle, readingHeld: true }, NOW, policy)).toBe(Verdict.KEEP);
  });

  it('applies the first rule that matches', () => {
    const everything = clocks({ expiresAt: NOW, partialSince: 1, pausedAt: 1, pingSentAt: 1, lastSeen: 1 });
    expect(judgeSession(everything, NOW, policy)).toBe(Verdict.CREDENTIAL_EXPIRED);
    expect(judgeSession({ ...everything, expiresAt: 0 }, NOW, policy)).toBe(Verdict.MESSAGE_TIMEOUT);
    expect(judgeSession({ ...everything, expiresAt: 0, partialSince: 0 }, NOW, policy)).toBe(Verdict.SLOW_CONSUMER);
  });

  it('sweeps at a quarter of the shortest limit, between 20 ms and 1 s', () => {
    expect(sweepIntervalMs(resolveServerOptions({}))).toBe(1000);
    expect(sweepIntervalMs({ ...policy, heartbeatIntervalMs: 400 })).toBe(100);
    expect(sweepIntervalMs({ ...policy, heartbeatIntervalMs: 0, closeTimeoutMs: 1 })).toBe(20);
  });
});
