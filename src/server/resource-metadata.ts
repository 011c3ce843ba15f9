/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728), as the MCP
 * authorization spec asks of a server that requires a bearer token.
 *
 * When auth is on the server publishes, at
 * `/.well-known/oauth-protected-resource` and at the path-suffixed form for
 * each endpoint path (`/.well-known/oauth-protected-resource/mcp`), a JSON
 * document naming the resource, the authorization servers that issue its
 * tokens, the scopes it knows and how a token is presented. Every 401 points
 * to it: `WWW-Authenticate: Bearer …, resource_metadata="<url>"`, on HTTP
 * and on WebSocket upgrade rejections alike.
 *
 * The resource identifier is `auth.protectedResource.resource` when given
 * (the URL clients use; set it behind a proxy or TLS terminator), else the
 * request's scheme, its Host header (already held to `allowedHosts`) and
 * the endpoint path. The document is public (it says nothing a 401 would
 * not) and served with `Access-Control-Allow-Origin: *` so browser clients
 * can read it.
 */

/** The well-known path prefix of RFC 9728 §3. */
export const RESOURCE_METADATA_PATH = '/.well-known/oauth-protected-resource';

/** Settings of the metadata document (the auth section's `protectedResource`). */
export interface ProtectedResourceOptions {
  /** The resource identifier clients use, e.g. `https://mcp.example.com/mcp`. Default: derived from each request. */
  resource?: string;
  /** Issuer URLs of the authorization servers. Default: `auth.jwt.issuer`. */
  authorizationServers?: string[];
  /** Scopes listed in `scopes_supported`. Default: requiredScopes and every scope of toolScopes. */
  scopesSupported?: string[];
  /** Human-readable name (`resource_name`). */
  resourceName?: string;
  /** URL of documentation for developers (`resource_documentation`). */
  resourceDocumentation?: string;
}

/** What the metadata falls back to when not configured. */
export interface ResourceMetadataDefaults {
  issuers: readonly string[];
  scopes: readonly string[];
}

/** Where a request came in: scheme, Host header, path. */
export interface RequestPlace {
  readonly tls: boolean;
  readonly host: string | undefined;
  readonly paths: readonly string[];
}

function httpUrl(value: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RangeError(`${name} should be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new RangeError(`${name} should be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  if (url.hash !== '' || value.includes('#')) throw new RangeError(`${name} must not have a fragment (RFC 9728), got ${JSON.stringify(value)}`);
  return url;
}

/** The metadata of one protected resource (one server). */
export class ResourceMetadata {
  private readonly resource: URL | undefined;
  private readonly body: Record<string, unknown>;

  /** @throws RangeError naming the setting when a URL is malformed */
  constructor(options: ProtectedResourceOptions, defaults: ResourceMetadataDefaults) {
    this.resource = options.resource === undefined ? undefined : httpUrl(options.resource, 'auth.protectedResource.resource');
    if (this.resource !== undefined && this.resource.search !== '') {
      throw new RangeError(`auth.protectedResource.resource should have no query, got ${JSON.stringify(options.resource)}`);
    }
    const servers = options.authorizationServers ?? [...defaults.issuers];
    servers.forEach((s, i) => httpUrl(s, `auth.protectedResource.authorizationServers[${i}]`));
    const scopes = options.scopesSupported ?? [...new Set(defaults.scopes)];
    this.body = {
      ...(servers.length > 0 ? { authorization_servers: servers } : {}),
      ...(scopes.length > 0 ? { scopes_supported: scopes } : {}),
      bearer_methods_supported: ['header'],
      ...(options.resourceName !== undefined ? { resource_name: options.resourceName } : {}),
      ...(options.resourceDocumentation !== undefined
        ? { resource_documentation: httpUrl(options.resourceDocumentation, 'auth.protectedResource.resourceDocumentation').href }
        : {}),
    };
  }

  /** True when `pathname` is a metadata path (the document may still be absent for it). */
  static handles(pathname: string): boolean {
    return pathname === RESOURCE_METADATA_PATH || pathname.startsWith(`${RESOURCE_METADATA_PATH}/`);
  }

  /**
   * The document served at `pathname`, or undefined (404) when that path
   * names no resource of this server or the request names no host.
   */
  documentFor(pathname: string, place: RequestPlace): Record<string, unknown> | undefined {
    const suffix = pathname.slice(RESOURCE_METADATA_PATH.length);
    let resource: string | undefined;
    if (this.resource !== undefined) {
      const own = this.resource.pathname === '/' ? '' : this.resource.pathname;
      // The root form also answers for the configured resource: MCP clients fall back to it.
      if (suffix === '' || suffix === own) resource = this.identifier(this.resource);
    } else {
      const origin = originOf(place);
      if (origin === undefined) return undefined;
      const path = suffix === '' ? place.paths[0] : place.paths.find((p) => p === suffix);
      if (path !== undefined) resource = origin + path;
    }
    return resource === undefined ? undefined : { resource, ...this.body };
  }

  /**
   * The metadata URL a 401 at `pathname` points to, or undefined when the
   * request names no host (and no resource is configured).
   */
  urlFor(pathname: string, place: RequestPlace): string | undefined {
    if (this.resource !== undefined) {
      const own = this.resource.pathname === '/' ? '' : this.resource.pathname;
      return `${this.resource.origin}${RESOURCE_METADATA_PATH}${own}`;
    }
    const origin = originOf(place);
    if (origin === undefined) return undefined;
    return place.paths.includes(pathname) ? `${origin}${RESOURCE_METADATA_PATH}${pathname}` : `${origin}${RESOURCE_METADATA_PATH}`;
  }

  private identifier(url: URL): string {
    // As configured, without the trailing slash URL adds to a bare origin.
    return url.pathname === '/' ? url.origin : url.origin + url.pathname;
  }
}

function originOf(place: RequestPlace): string | undefined {
  const host = place.host;
  // A Host header is one authority: no path, user info, spaces or quotes (it goes into a header value).
  if (host === undefined || host === '' || !/^[A-Za-z0-9.\-:[\]]+$/.test(host)) return undefined;
  return `${place.tls ? 'https' : 'http'}://${host}`;
}
