/**
 * Authentication at the door: every connection presents a credential when
 * auth is on, verified before the WebSocket exists.
 *
 * Credentials come from `Authorization: Bearer <token>` or, for browsers
 * (which cannot set headers on a WebSocket), from the subprotocol
 * `mcp.auth.<token>` (SEP-1288) — never echoed back in the handshake. A
 * token in the query string is refused: URLs end up in logs and proxies.
 *
 * Two verifiers, tried in this order:
 *  - static bearer tokens, compared in constant time (SHA-256 of each side,
 *    then timingSafeEqual against every configured token, no early exit);
 *  - JWT through jose: HS256/384/512 with a secret, RS/PS/ES/EdDSA with a PEM
 *    public key or a JWKS URL (jose caches the set and refetches on an
 *    unknown `kid`, which is how key rotation works); issuer, audience,
 *    required claims and clock leeway checked.
 *
 * The identity (subject, scopes, claims) reaches tool handlers, the SDK host
 * and rate limiting; a JWT's `exp` becomes the session's deadline (closed
 * with 1008 when it passes).
 *
 * jose is imported only when JWT is configured: the constructor starts the
 * import, the first JWT verification waits for it, later ones find it loaded.
 */
import { createHash, createPublicKey, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { Identity } from './handler.js';
import { ResourceMetadata, type ProtectedResourceOptions } from './resource-metadata.js';

type Jose = typeof import('jose');

/** jose once loaded; undefined until the first JWT configuration has imported it. */
let jose: Jose | undefined;
let joseLoading: Promise<Jose> | undefined;

/** Imports jose once; a failed import is retried by the next call. */
function loadJose(): Promise<Jose> {
  joseLoading ??= import('jose').then(
    (m) => (jose = m),
    (err: unknown) => {
      joseLoading = undefined;
      throw err;
    },
  );
  return joseLoading;
}

/** A static token with the identity it stands for. */
export interface StaticToken {
  token: string;
  subject?: string;
  scopes?: string[];
}

/** JWT verification settings. One of secret, publicKey, jwksUrl is required. */
export interface JwtOptions {
  /** Shared secret for HS256/384/512. */
  secret?: string;
  /** PEM public key (SPKI or certificate) for RS*, PS*, ES*, EdDSA. */
  publicKey?: string;
  /** JWKS endpoint; keys are cached and refetched on an unknown kid. */
  jwksUrl?: string;
  /** After a JWKS fetch, no other fetch for this long, even for an unknown kid. Default 30,000 ms. */
  jwksCooldownMs?: number;
  /** A cached JWKS is refetched after this long. Default 600,000 ms. */
  jwksCacheMaxAgeMs?: number;
  /** Accepted algorithms. Default: HS* with a secret, the asymmetric ones otherwise. */
  algorithms?: string[];
  issuer?: string | string[];
  audience?: string | string[];
  /** Claims that must be present (e.g. ['sub', 'exp']). Default ['exp']. */
  requiredClaims?: string[];
  /** Clock leeway in seconds. Default 30. */
  clockToleranceSec?: number;
  /** Claim holding scopes: a space-separated string or an array. Default: 'scope', then 'scp', then 'roles'. */
  scopesClaim?: string;
}

/** Options of {@link Authenticator}. */
export interface AuthOptions {
  /** Static bearer tokens. */
  tokens?: Array<string | StaticToken>;
  jwt?: JwtOptions;
  /** Scopes an identity needs to connect at all (any one of them). Missing → HTTP 403. */
  requiredScopes?: string[];
  /** Tool name (or '*') → scopes of which the identity needs one to call it. */
  toolScopes?: Record<string, string[]>;
  /** Realm in WWW-Authenticate. Default 'mcp-ws'. */
  realm?: string;
  /** OAuth Protected Resource Metadata (RFC 9728), published whenever auth is on; see resource-metadata.ts. */
  protectedResource?: ProtectedResourceOptions;
}

/** A rejected credential: HTTP status and a message safe to send. */
export class AuthError extends Error {
  constructor(
    readonly status: 401 | 403,
    message: string,
    readonly oauthError: 'invalid_request' | 'invalid_token' | 'insufficient_scope',
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

/**
 * The JWT key source (JWKS URL) could not be read: a failure of the server's
 * side, answered with 503 + Retry-After, never with 401.
 */
export class KeySourceUnavailableError extends Error {
  constructor(readonly reason: string) {
    super('credential keys unavailable');
    this.name = 'KeySourceUnavailableError';
  }
}

/** Told once per change of the key source's reachability; `reason` says why it went down. */
export type KeySourceListener = (reachable: boolean, reason?: string) => void;

/**
 * True when a JWKS getter's error comes from fetching the set (network,
 * timeout, non-200, unparsable set), not from the token (unknown kid,
 * unsupported alg).
 */
function isKeySourceFailure(err: unknown, joseErrors: Jose['errors']): boolean {
  if (!(err instanceof joseErrors.JOSEError)) return true; // fetch's own errors (connection refused, DNS)
  return err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || err.code === 'ERR_JOSE_GENERIC';
}

/** An identity with the instant (ms) its credential expires, if it does. */
export interface VerifiedIdentity extends Identity {
  readonly expiresAt?: number;
}

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function scopesFrom(payload: JWTPayload, claim: string | undefined): string[] {
  const names = claim ? [claim] : ['scope', 'scp', 'roles'];
  for (const name of names) {
    const v = payload[name];
    if (typeof v === 'string') return v.split(' ').filter(Boolean);
    if (Array.isArray(v)) return v.filter((s): s is string => typeof s === 'string');
  }
  return [];
}

/** Verifies credentials. Build once from options; `verify` is called per handshake. */
export class Authenticator {
  readonly realm: string;
  /** The RFC 9728 metadata document this server publishes. */
  readonly resourceMetadata: ResourceMetadata;
  private readonly tokens: Array<{ digest: Buffer; identity: Identity }>;
  private readonly jwtKey: Uint8Array | KeyObject | JWTVerifyGetKey | undefined;
  private readonly jwt: JwtOptions | undefined;
  private readonly algorithms: string[];
  private readonly requiredScopes: readonly string[] | undefined;
  private readonly toolScopes: ReadonlyMap<string, readonly string[]>;
  private keySourceDown = false;
  private readonly keySourceListeners: KeySourceListener[] = [];

  constructor(options: AuthOptions) {
    this.realm = options.realm ?? 'mcp-ws';
    this.tokens = (options.tokens ?? []).map((t, i) => {
      const spec = typeof t === 'string' ? { token: t } : t;
      if (typeof spec.token !== 'string' || spec.token.length < 16) {
        throw new RangeError(`auth.tokens[${i}] should be a string of at least 16 characters`);
      }
      return {
        digest: sha256(spec.token),
        identity: { subject: spec.subject ?? `token-${i + 1}`, scopes: spec.scopes ?? [] },
      };
    });
    const jwt = options.jwt;
    this.jwt = jwt;
    if (jwt) {
      const sources = [jwt.secret, jwt.publicKey, jwt.jwksUrl].filter((s) => s !== undefined).length;
      if (sources !== 1) throw new RangeError('auth.jwt needs exactly one of secret, publicKey, jwksUrl');
      if (jwt.secret !== undefined) {
        if (jwt.secret.length < 32) throw new RangeError('auth.jwt.secret should be at least 32 characters');
        // A KeyObject, not raw bytes: jose re-imports raw bytes on every verify.
        this.jwtKey = createSecretKey(Buffer.from(jwt.secret));
      } else if (jwt.publicKey !== undefined) {
        try {
          this.jwtKey = createPublicKey(jwt.publicKey);
        } catch (err) {
          throw new RangeError(`auth.jwt.publicKey is not a PEM public key: ${(err as Error).message}`);
        }
      } else {
        let url: URL;
        try {
          url = new URL(jwt.jwksUrl!);
        } catch {
          throw new RangeError(`auth.jwt.jwksUrl should be a URL, got ${JSON.stringify(jwt.jwksUrl)}`);
        }
        let remote: JWTVerifyGetKey | undefined;
        // Called by jwtVerify, so jose is loaded by then; the set is made on first use.
        this.jwtKey = async (header, token) => {
          const j = jose!;
          remote ??= j.createRemoteJWKSet(url, {
            cacheMaxAge: jwt.jwksCacheMaxAgeMs ?? 600_000,
            cooldownDuration: jwt.jwksCooldownMs ?? 30_000,
            timeoutDuration: 5_000,
          });
          try {
            const key = await remote(header, token);
            if (this.keySourceDown) this.setKeySource(true);
            return key;
          } catch (err) {
            if (!isKeySourceFailure(err, j.errors)) throw err;
            const reason = err instanceof Error ? err.message : String(err);
            if (!this.keySourceDown) this.setKeySource(false, reason);
            throw new KeySourceUnavailableError(reason);
          }
        };
      }
      this.algorithms = jwt.algorithms ?? (jwt.secret !== undefined ? HMAC_ALGS : ASYMMETRIC_ALGS);
      // Start loading now so the first handshake does not wait; verifyJwt reports a failure.
      loadJose().catch(() => undefined);
    } else {
      this.algorithms = [];
    }
    if (this.tokens.length === 0 && !jwt) throw new RangeError('auth needs tokens or jwt');
    this.requiredScopes = options.requiredScopes;
    this.toolScopes = new Map(Object.entries(options.toolScopes ?? {}));
    const issuer = jwt?.issuer;
    this.resourceMetadata = new ResourceMetadata(options.protectedResource ?? {}, {
      issuers: issuer === undefined ? [] : typeof issuer === 'string' ? [issuer] : issuer,
      scopes: [...(options.requiredScopes ?? []), ...Object.values(options.toolScopes ?? {}).flat()],
    });
  }

  /** Calls `listener` once per change of the JWKS source's reachability. */
  onKeySourceChange(listener: KeySourceListener): void {
    this.keySourceListeners.push(listener);
  }

  private setKeySource(reachable: boolean, reason?: string): void {
    this.keySourceDown = !reachable;
    for (const l of this.keySourceListeners) l(reachable, reason);
  }

  /**
   * Verifies a bearer credential. Throws {@link AuthError}, or
   * {@link KeySourceUnavailableError} when the JWKS cannot be fetched.
   */
  async verify(token: string | undefined): Promise<VerifiedIdentity> {
    if (token === undefined || token === '') {
      throw new AuthError(401, 'credential required', 'invalid_request');
    }
    const identity = this.matchStatic(token) ?? (this.jwtKey ? await this.verifyJwt(token) : undefined);
    if (!identity) throw new AuthError(401, 'invalid credential', 'invalid_token');
    if (this.requiredScopes && !this.requiredScopes.some((s) => identity.scopes.includes(s))) {
      throw new AuthError(403, 'insufficient scope', 'insufficient_scope');
    }
    return identity;
  }

  /** True when `identity` may call `tool` under toolScopes. */
  mayCallTool(identity: Identity | undefined, tool: string): boolean {
    const needed = this.toolScopes.get(tool) ?? this.toolScopes.get('*');
    if (!needed) return true;
    if (!identity) return false;
    return needed.some((s) => identity.scopes.includes(s));
  }

  /** True when tool calls need a scope check at all. */
  get checksTools(): boolean {
    return this.toolScopes.size > 0;
  }

  /**
   * The WWW-Authenticate header for a rejection; a 401 names the resource
   * metadata URL when there is one (RFC 9728 §5.1).
   */
  challenge(err: AuthError, resourceMetadataUrl?: string): string {
    const base = `Bearer realm="${this.realm}", error="${err.oauthError}"`;
    return resourceMetadataUrl === undefined || err.status !== 401 ? base : `${base}, resource_metadata="${resourceMetadataUrl}"`;
  }

  private matchStatic(token: string): Identity | undefined {
    if (this.tokens.length === 0) return undefined;
    const digest = sha256(token);
    let found: Identity | undefined;
    // Compare against every token so timing says nothing about which matched.
    for (const t of this.tokens) {
      if (timingSafeEqual(t.digest, digest)) found = t.identity;
    }
    return found;
  }

  private async verifyJwt(token: string): Promise<VerifiedIdentity | undefined> {
    const jwt = this.jwt!;
    const j = jose ?? (await loadJose());
    try {
      const { payload } = await j.jwtVerify(token, this.jwtKey as Parameters<Jose['jwtVerify']>[1], {
        algorithms: this.algorithms,
        issuer: jwt.issuer,
        audience: jwt.audience,
        requiredClaims: jwt.requiredClaims ?? ['exp'],
        clockTolerance: jwt.clockToleranceSec ?? 30,
      });
      const subject = typeof payload.sub === 'string' ? payload.sub : typeof payload.client_id === 'string' ? payload.client_id : 'jwt';
      return {
        subject,
        scopes: scopesFrom(payload, jwt.scopesClaim),
        claims: payload as Record<string, unknown>,
        expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 + (jwt.clockToleranceSec ?? 30) * 1000 : undefined,
      };
    } catch (err) {
      if (err instanceof KeySourceUnavailableError) throw err;
      return undefined;
    }
  }
}

const QUERY_CREDENTIAL = /[?&](access_token|token|auth|authorization|jwt|api_key|apikey)=/i;

/**
 * Finds the credential in an upgrade request. Returns the token, undefined
 * when none was sent, or throws AuthError when it sits in the query string.
 */
export function extractCredential(url: string, authorization: string | undefined, protocols: string | undefined): string | undefined {
  if (QUERY_CREDENTIAL.test(url)) {
    throw new AuthError(401, 'credentials in the query string are refused; use Authorization or the mcp.auth subprotocol', 'invalid_request');
  }
  if (authorization !== undefined) {
    const m = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(authorization);
    if (!m) throw new AuthError(401, 'Authorization must be "Bearer <token>"', 'invalid_request');
    return m[1];
  }
  if (protocols !== undefined) {
    for (const p of protocols.split(',')) {
      const t = p.trim();
      if (t.startsWith('mcp.auth.')) return t.slice('mcp.auth.'.length);
    }
  }
  return undefined;
}
