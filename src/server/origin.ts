/**
 * Origin and Host checks against cross-site WebSocket hijacking and DNS
 * rebinding (the MCP transport rules).
 *
 * - A request with no Origin header is not from a browser: accepted.
 * - By default only loopback origins are accepted (http(s)://localhost,
 *   127.0.0.1, [::1], any port): a page on the web cannot open a socket to
 *   a developer's local server.
 * - The Host header must name a loopback host when the server is bound to
 *   loopback, so a rebinding DNS name pointing at 127.0.0.1 is refused.
 *
 * Entries are exact (`https://app.example.com`, `app.example.com:8443`) or
 * wildcard subdomains (`https://*.example.com`, `*.example.com`); `*` alone
 * allows any.
 */

/** Options of {@link OriginPolicy}. */
export interface OriginPolicyOptions {
  /** Allowed browser origins. Default: loopback origins only. `['*']` allows any. */
  allowedOrigins?: readonly string[];
  /** Allowed Host header values (host or host:port). Default: loopback names when bound to loopback, else any. */
  allowedHosts?: readonly string[];
  /** The interface the server binds, to choose the Host default. */
  bindHost: string;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** True for names that always mean this machine. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || /^127(\.\d{1,3}){3}$/.test(host) || host.endsWith('.localhost');
}

interface Matcher {
  any: boolean;
  exact: Set<string>;
  /** Suffixes such as `.example.com` with the scheme (for origins) prefix kept separately. */
  wildcards: Array<{ prefix: string; suffix: string }>;
}

function compile(entries: readonly string[]): Matcher {
  const m: Matcher = { any: false, exact: new Set(), wildcards: [] };
  for (const raw of entries) {
    const e = raw.trim().toLowerCase().replace(/\/+$/, '');
    if (e === '*') m.any = true;
    else if (e.includes('*.')) {
      const i = e.indexOf('*.');
      m.wildcards.push({ prefix: e.slice(0, i), suffix: e.slice(i + 1) });
    } else m.exact.add(e);
  }
  return m;
}

function matches(m: Matcher, value: string): boolean {
  if (m.any || m.exact.has(value)) return true;
  for (const w of m.wildcards) {
    if (value.startsWith(w.prefix) && value.endsWith(w.suffix) && value.length > w.prefix.length + w.suffix.length) {
      const middle = value.slice(w.prefix.length, value.length - w.suffix.length);
      // One or more labels, never a scheme, port or path.
      if (/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(middle)) return true;
    }
  }
  return false;
}

/** Splits "host:port" / "[v6]:port" into the host part. */
function hostOnly(hostport: string): string {
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    return end === -1 ? hostport : hostport.slice(0, end + 1);
  }
  const colon = hostport.indexOf(':');
  return colon === -1 ? hostport : hostport.slice(0, colon);
}

/** Decides whether an upgrade's Origin and Host headers are acceptable. */
export class OriginPolicy {
  private readonly origins: Matcher | undefined;
  private readonly hosts: Matcher | undefined;
  private readonly loopbackHostsOnly: boolean;

  constructor(options: OriginPolicyOptions) {
    this.origins = options.allowedOrigins ? compile(options.allowedOrigins) : undefined;
    this.hosts = options.allowedHosts ? compile(options.allowedHosts) : undefined;
    this.loopbackHostsOnly = !options.allowedHosts && isLoopbackHost(options.bindHost);
  }

  /** True when `origin` (the header value, or undefined) may connect. */
  checkOrigin(origin: string | undefined): boolean {
    if (origin === undefined) return true;
    const o = origin.trim().toLowerCase();
    if (this.origins) return matches(this.origins, o);
    // Default: loopback origins only. "null" (file://, sandboxed frames) is refused.
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      return false;
    }
    return (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname.startsWith('[') ? url.hostname : url.hostname);
  }

  /** True when the Host header is acceptable. */
  checkHost(host: string | undefined): boolean {
    if (host === undefined) return false;
    const h = host.trim().toLowerCase();
    if (this.hosts) return matches(this.hosts, h) || matches(this.hosts, hostOnly(h));
    if (this.loopbackHostsOnly) return isLoopbackHost(hostOnly(h));
    return true;
  }
}
