/**
 * The lifecycle policies that judge a session from its own clocks, applied
 * by the server's sweep once per interval (never per message):
 *
 *   closing for closeTimeoutMs          ─► terminate (stalled close handshake)
 *   credential past its expiry          ─► close 1008
 *   message incomplete messageTimeoutMs ─► close 1008
 *   over maxBufferedBytes for slowConsumerTimeoutMs ─► close 4001
 *   ping unanswered heartbeatTimeoutMs  ─► terminate
 *   idle heartbeatIntervalMs            ─► ping
 *
 * The first rule that applies wins. A session whose handler holds reading
 * is not pinged: it could not read the pong. judgeSession() only reads the
 * clocks and returns a number, so it can be checked without a socket;
 * enforceSessionPolicies() acts on that verdict.
 */
import type { Logger } from 'pino';
import { CloseCode } from '../protocol/close-codes.js';
import type { ServerMetrics } from '../metrics/metrics.js';
import type { Session } from './session.js';

/** The clocks of a session the policies read (ms; 0 means "not set"). */
export type SessionClocks = Pick<Session, 'closingAt' | 'expiresAt' | 'partialSince' | 'pausedAt' | 'readingHeld' | 'pingSentAt' | 'lastSeen'>;

/** The limits the policies apply; heartbeatIntervalMs 0 disables heartbeats. */
export interface SessionPolicy {
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly slowConsumerTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly messageTimeoutMs: number;
}

/** What the sweep does to one session. */
export const Verdict = {
  KEEP: 0,
  STALLED_CLOSE: 1,
  CREDENTIAL_EXPIRED: 2,
  MESSAGE_TIMEOUT: 3,
  SLOW_CONSUMER: 4,
  HEARTBEAT_TIMEOUT: 5,
  PING: 6,
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** Judges one session at `now` (coarse ms). Reads only; allocates nothing. */
export function judgeSession(s: SessionClocks, now: number, p: SessionPolicy): Verdict {
  if (s.closingAt !== 0) return now - s.closingAt >= p.closeTimeoutMs ? Verdict.STALLED_CLOSE : Verdict.KEEP;
  if (s.expiresAt !== 0 && now >= s.expiresAt) return Verdict.CREDENTIAL_EXPIRED;
  if (s.partialSince !== 0 && now - s.partialSince >= p.messageTimeoutMs) return Verdict.MESSAGE_TIMEOUT;
  if (s.pausedAt !== 0 && now - s.pausedAt >= p.slowConsumerTimeoutMs) return Verdict.SLOW_CONSUMER;
  if (p.heartbeatIntervalMs === 0 || s.readingHeld) return Verdict.KEEP;
  if (s.pingSentAt !== 0) return now - s.pingSentAt >= p.heartbeatTimeoutMs ? Verdict.HEARTBEAT_TIMEOUT : Verdict.KEEP;
  return now - s.lastSeen >= p.heartbeatIntervalMs ? Verdict.PING : Verdict.KEEP;
}

/** Judges one session and acts on the verdict: terminate, close with the policy's code, or ping. */
export function enforceSessionPolicies(s: Session, now: number, p: SessionPolicy, metrics: ServerMetrics, logger: Logger): void {
  switch (judgeSession(s, now, p)) {
    case Verdict.KEEP:
      return;
    case Verdict.STALLED_CLOSE:
      s.terminate();
      return;
    case Verdict.CREDENTIAL_EXPIRED:
      logger.info({ session: s.id }, 'credential expired');
      s.close(CloseCode.POLICY_VIOLATION, 'credential expired');
      return;
    case Verdict.MESSAGE_TIMEOUT:
      metrics.errors.message_timeout++;
      s.close(CloseCode.POLICY_VIOLATION, 'message left incomplete');
      return;
    case Verdict.SLOW_CONSUMER:
      metrics.errors.slow_consumer++;
      logger.warn({ session: s.id, buffered: s.bufferedAmount }, 'slow consumer closed');
      s.close(CloseCode.SLOW_CONSUMER, 'slow consumer');
      return;
    case Verdict.HEARTBEAT_TIMEOUT:
      metrics.errors.heartbeat_timeout++;
      logger.debug({ session: s.id }, 'heartbeat timeout');
      s.terminate();
      return;
    case Verdict.PING:
      s.ping(now);
      return;
  }
}

/**
 * Sweep interval for a policy: a quarter of the shortest limit the sweep
 * enforces (at most 4 s), between 20 ms and 1 s, so a limit is overshot by
 * at most a quarter of itself.
 */
export function sweepIntervalMs(p: SessionPolicy): number {
  let base = Math.min(p.slowConsumerTimeoutMs, p.closeTimeoutMs, 4000);
  if (p.heartbeatIntervalMs > 0) base = Math.min(base, p.heartbeatIntervalMs, p.heartbeatTimeoutMs);
  return Math.max(20, Math.min(1000, Math.floor(base / 4)));
}
