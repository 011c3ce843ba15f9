/**
 * Codec negotiation in the WebSocket handshake.
 *
 * A server selects at most ONE subprotocol (RFC 6455), so the codec rides in
 * the subprotocol name: a client that wants compression offers
 * `mcp.<codec>` subprotocols (in any order) and usually `mcp` as well; the
 * server walks ITS preference order and selects the first codec offered, or
 * `mcp` when none is, or nothing when `mcp` is not offered either.
 *
 *   offered                         server prefers zstd, br, gzip, deflate
 *   ─────────────────────────────   ──────────────────────────────────────
 *   mcp.gzip, mcp.zstd, mcp         mcp.zstd   (codec zstd)
 *   mcp.gzip, mcp                   mcp.gzip   (codec gzip)
 *   mcp                             mcp        (plain text frames)
 *   (none), or only unknown names   none       (accepted, plain text frames)
 *
 * A client that knows nothing of codecs (the official SDK offers exactly
 * `mcp`) never sees a binary frame. The server's order wins over the
 * client's: the server pays for compression, per message, on every session.
 */
import { CODEC_SUBPROTOCOLS, type Codec, type CodecName } from './codec.js';
import { availableCodecs, createCodec, isCodecAvailable } from './codecs.js';
import type { ResolvedCompressionConfig } from './config.js';

/** The plain MCP subprotocol. */
export const MCP_SUBPROTOCOL = 'mcp';

/** The outcome of a handshake. */
export interface Negotiation {
  /** Subprotocol to select: `mcp.<codec>`, `mcp`, or false for none. */
  readonly protocol: string | false;
  /** The codec that subprotocol switches on; undefined for `mcp` and none. */
  readonly codec: Codec | undefined;
}

const PLAIN: Negotiation = Object.freeze({ protocol: MCP_SUBPROTOCOL, codec: undefined });
const NONE: Negotiation = Object.freeze({ protocol: false, codec: undefined });

/**
 * Picks the subprotocol and codec for one handshake.
 *
 * @param offered The client's subprotocols (ws passes a Set to `handleProtocols`).
 * @param preference The server's codecs, most preferred first (already
 *   filtered to the enabled and available ones).
 */
export function negotiateCodec(offered: ReadonlySet<string>, preference: readonly Codec[]): Negotiation {
  if (offered.size === 0) return NONE;
  for (const codec of preference) {
    if (offered.has(codec.subprotocol)) return { protocol: codec.subprotocol, codec };
  }
  return offered.has(MCP_SUBPROTOCOL) ? PLAIN : NONE;
}

/**
 * A server's negotiation, resolved once from its codecs: `select` goes to
 * ws's `handleProtocols`, `codecFor(ws.protocol)` finds the codec after the
 * handshake.
 */
export class CodecNegotiator {
  /** The server's codecs, most preferred first. */
  readonly codecs: readonly Codec[];
  private readonly bySubprotocol: ReadonlyMap<string, Codec>;

  /** @param codecs Most preferred first; duplicates (same algorithm) after the first are ignored. */
  constructor(codecs: readonly Codec[]) {
    const map = new Map<string, Codec>();
    for (const c of codecs) if (!map.has(c.subprotocol)) map.set(c.subprotocol, c);
    this.codecs = Object.freeze([...map.values()]);
    this.bySubprotocol = map;
  }

  /** Negotiates one handshake. */
  negotiate(offered: ReadonlySet<string>): Negotiation {
    return negotiateCodec(offered, this.codecs);
  }

  /** The subprotocol to select, in the shape ws's `handleProtocols` returns. */
  select(offered: ReadonlySet<string>): string | false {
    return negotiateCodec(offered, this.codecs).protocol;
  }

  /** The codec a selected subprotocol switched on (`ws.protocol` after the handshake); undefined for `mcp` or ''. */
  codecFor(protocol: string): Codec | undefined {
    return this.bySubprotocol.get(protocol);
  }
}

/**
 * What a client offers: `mcp.<codec>` for each codec it can decode, then
 * `mcp` so a server without codecs still accepts it. Default: every codec
 * this process can run.
 */
export function clientSubprotocols(codecs: readonly CodecName[] = availableCodecs()): string[] {
  return [...codecs.map((n) => CODEC_SUBPROTOCOLS[n]), MCP_SUBPROTOCOL];
}

/** The codec name a selected subprotocol stands for, or undefined (`mcp`, '', unknown). */
export function codecNameOf(protocol: string): CodecName | undefined {
  for (const [name, sub] of Object.entries(CODEC_SUBPROTOCOLS) as Array<[CodecName, string]>) {
    if (sub === protocol) return name;
  }
  return undefined;
}

/**
 * The codec negotiator for a resolved config: the enabled codecs this
 * process can run (zstd may be missing), in the configured order, each at
 * its level. No codecs when `enabled` is false or `algorithms` is [].
 */
export function createNegotiator(config: ResolvedCompressionConfig): CodecNegotiator {
  const names = config.enabled ? config.algorithms.filter(isCodecAvailable) : [];
  return new CodecNegotiator(names.map((n) => createCodec(n, config.levels[n])));
}
