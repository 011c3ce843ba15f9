/**
 * The client's address behind reverse proxies (`trustedProxies`).
 *
 * Per-IP limits (maxConnectionsPerIp, the handshake rate, rate limiting's
 * `ip` scope) and logs use the address of the TCP peer. Behind nginx that is
 * nginx, so every client would share one budget. With `trustedProxies` set
 * (addresses or CIDR ranges, IPv4 or IPv6), a connection whose peer is one of
 * them is attributed to the address its X-Forwarded-For names:
 *
 *   walk X-Forwarded-For from the right (each proxy appends the address it
 *   saw), skip entries that are trusted proxies themselves, take the first
 *   one that is not. A client can write anything on the left of the header;
 *   only what trusted proxies appended is believed.
 *
 * A peer that is not trusted is its own address, whatever headers it sends
 * (a client reaching the server directly cannot pick its budget). An entry
 * that is not an IP address stops the walk at the last trusted hop's address.
 * Without trustedProxies (the default) nothing is read from headers.
 */
import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { describeValue } from '../config/describe-value.js';

/** `::ffff:1.2.3.4` → `1.2.3.4`, so IPv4 rules match IPv4 peers on a dual-stack socket. */
function plain(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** Parses `trustedProxies`; throws RangeError naming the bad entry. */
export function trustedProxyList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  entries.forEach((entry, i) => {
    const bad = (): RangeError => new RangeError(`trustedProxies[${i}] should be an IP address or CIDR range (10.0.0.0/8, ::1), got ${describeValue(entry)}`);
    if (typeof entry !== 'string') throw bad();
    const [addr = '', bits, ...rest] = entry.trim().split('/');
    const family = isIP(addr);
    if (family === 0 || rest.length > 0) throw bad();
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) {
      list.addAddress(addr, type);
      return;
    }
    const prefix = Number(bits);
    if (!/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) throw bad();
    list.addSubnet(addr, prefix, type);
  });
  return list;
}

/** Resolves the client address of requests from `peer`. */
export class ClientIp {
  private readonly trusted: BlockList | undefined;

  constructor(trustedProxies: readonly string[] | undefined) {
    this.trusted = trustedProxies === undefined || trustedProxies.length === 0 ? undefined : trustedProxyList(trustedProxies);
  }

  private isTrusted(ip: string): boolean {
    const p = plain(ip);
    const family = isIP(p);
    return family !== 0 && this.trusted!.check(p, family === 4 ? 'ipv4' : 'ipv6');
  }

  /** The address limits and logs should use for `req` arriving from `peer`. */
  of(req: IncomingMessage, peer: string): string {
    if (this.trusted === undefined || !this.isTrusted(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    if (header === undefined) return peer;
    const hops = (Array.isArray(header) ? header.join(',') : header).split(',');
    let client = peer;
    // Bounded: a header is at most the server's header size; each step is one split entry.
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plain(hops[i]!.trim());
      if (isIP(hop) === 0) return client;
      client = hop;
      if (!this.isTrusted(hop)) return hop;
    }
    return client;
  }
}
