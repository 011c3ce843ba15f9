/**
 * The integrity of MRTR `requestState` (2026-07-28, SEP-2322) and the checks
 * of `inputResponses`.
 *
 * A `requestState` passes through the client, so the spec makes it
 * attacker-controlled input. The router never hands a client a state it
 * could change: what goes out is sealed here with HMAC-SHA256 under the
 * router's secret, and bound to
 *
 *   - the identity that made the request (its subject; none: ''),
 *   - an expiry (`requestStateTtlMs`),
 *   - the request it answers: method, tool or prompt name or resource URI,
 *     and a digest of the arguments (canonical JSON, keys sorted),
 *
 * so a retry presenting a state that was altered, has expired, belongs to
 * another identity or to another call is refused with -32602 before any
 * handler runs, with one message for every cause. Inside are the handler's
 * own state (`requireInput(…, { requestState })`, read back as
 * `ctx.requestState`) and the answers of earlier rounds, so a handler that
 * asks twice gets its first answer back on the third request without the
 * client resending it.
 *
 * Sealing binds but does not make a state single-use: within its expiry the
 * same identity may present it again on the same call (the spec's replay
 * bound). A handler whose effect must happen at most once keeps that fact
 * itself.
 *
 * Wire form: `<base64url(payload JSON)>.<base64url(HMAC)>`. Nothing here
 * runs unless a request carries a requestState or a handler asks for input.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { RpcError } from '../protocol/errors.js';
import { INVALID_PARAMS } from '../protocol/jsonrpc.js';
import type { InputRequest } from './input.js';

/** The sealed content of a requestState. */
interface Payload {
  /** Format version. */
  v: 1;
  /** Expiry, ms since the epoch. */
  e: number;
  /** Subject of the identity the state was issued to ('' when unauthenticated). */
  p: string;
  /** Digest of the request it belongs to (method, target, arguments). */
  d: string;
  /** The handler's own state. */
  s?: string;
  /** Answers of earlier rounds, by input key. */
  a?: Record<string, unknown>;
}

/** What a verified requestState gives back. */
export interface OpenedState {
  readonly state: string | undefined;
  readonly answers: Readonly<Record<string, unknown>> | undefined;
}

/** The part of a request a state is bound to. */
export interface StateBinding {
  readonly method: string;
  readonly params: Record<string, unknown> | undefined;
  readonly subject: string | undefined;
}

const REFUSED = 'Invalid params: requestState failed verification (altered, expired, or issued for another request or identity)';

/** JSON with object keys sorted, so the same arguments digest the same whatever order a client sends them in. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .filter((k) => o[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}

/** Digest of what identifies a request: its method, its target, its arguments. */
function digest(b: StateBinding): string {
  const p = b.params;
  const target = b.method === 'resources/read' ? p?.uri : p?.name;
  const args = b.method === 'resources/read' ? null : (p?.arguments ?? {});
  return createHash('sha256').update(canonical([b.method, target ?? null, args])).digest('base64url');
}

/** Seals and opens requestStates under one secret. */
export class StateSealer {
  private readonly key: Buffer;

  constructor(
    secret: Uint8Array,
    private readonly ttlMs: number,
    /** Longest requestState accepted or issued (characters). */
    readonly maxBytes: number,
  ) {
    this.key = Buffer.from(secret);
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.key).update(body).digest();
  }

  /**
   * The requestState carrying the handler's `state` and earlier `answers`
   * for a retry of the request `b`. Throws RpcError -32602 when it would be
   * longer than maxBytes (the answers a client sent are too large to carry).
   */
  seal(b: StateBinding, state: string | undefined, answers: Record<string, unknown> | undefined, now = Date.now()): string {
    const payload: Payload = { v: 1, e: now + this.ttlMs, p: b.subject ?? '', d: digest(b) };
    if (state !== undefined) payload.s = state;
    if (answers !== undefined && Object.keys(answers).length > 0) payload.a = answers;
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    const sealed = `${body}.${this.mac(body).toString('base64url')}`;
    if (sealed.length > this.maxBytes) {
      throw new RpcError(INVALID_PARAMS, `Invalid params: the input to carry to the next round exceeds ${this.maxBytes} bytes of requestState`);
    }
    return sealed;
  }

  /** Verifies a requestState a client echoed for the request `b`; throws RpcError -32602 (one message for every cause). */
  open(b: StateBinding, sealed: string, now = Date.now()): OpenedState {
    if (sealed.length > this.maxBytes) throw new RpcError(INVALID_PARAMS, REFUSED);
    const dot = sealed.indexOf('.');
    if (dot <= 0) throw new RpcError(INVALID_PARAMS, REFUSED);
    const body = sealed.slice(0, dot);
    const given = Buffer.from(sealed.slice(dot + 1), 'base64url');
    const want = this.mac(body);
    // base64url decoding skips stray characters: compare the re-encoded tag too, so only one spelling verifies.
    if (given.length !== want.length || !timingSafeEqual(given, want) || given.toString('base64url') !== sealed.slice(dot + 1)) {
      throw new RpcError(INVALID_PARAMS, REFUSED);
    }
    let p: Payload;
    try {
      p = JSON.parse(Buffer.from(body, 'base64url').toString()) as Payload;
    } catch {
      throw new RpcError(INVALID_PARAMS, REFUSED);
    }
    if (p.v !== 1 || typeof p.e !== 'number' || now > p.e || p.p !== (b.subject ?? '') || p.d !== digest(b)) {
      throw new RpcError(INVALID_PARAMS, REFUSED);
    }
    return { state: p.s, answers: p.a };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Whether `value` is a result of `method` as the client's answer to an input
 * request: an ElicitResult (`action` accept/decline/cancel, `content` an
 * object when present), a CreateMessageResult (`role`, `content`), a
 * ListRootsResult (`roots` array). Only the shape the router relies on.
 */
export function isInputResponse(method: InputRequest['method'], value: unknown): boolean {
  if (!isObject(value)) return false;
  switch (method) {
    case 'elicitation/create':
      return (
        (value.action === 'accept' || value.action === 'decline' || value.action === 'cancel') &&
        (value.content === undefined || isObject(value.content))
      );
    case 'sampling/createMessage':
      return typeof value.role === 'string' && (isObject(value.content) || Array.isArray(value.content));
    case 'roots/list':
      return Array.isArray(value.roots);
    default:
      return false;
  }
}
