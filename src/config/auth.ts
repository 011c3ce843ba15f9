/**
 * The auth section of a config, made into Authenticator options: bearer
 * tokens from the config, a token file and an environment variable, a JWT
 * secret from the environment and a public key from a file. `mcp-ws serve`
 * and `mcp-ws gateway` both read auth this way; every failure is a
 * one-line ConfigError naming the setting.
 */
import { readFileSync } from 'node:fs';
import type { AuthOptions } from '../server/auth.js';
import { ConfigError, type ServeConfig } from './schema.js';

/** Environment variable read for bearer tokens when set (comma or whitespace separated). */
export const TOKENS_ENV = 'MCP_WS_AUTH_TOKENS';

function splitTokens(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .flatMap((l) => l.split(/[\s,]+/))
    .filter(Boolean);
}

/** Turns the config's auth section into Authenticator options: reads token files, env vars and key files. */
export function resolveAuth(auth: ServeConfig['auth'], env: NodeJS.ProcessEnv = process.env): AuthOptions | undefined {
  const tokens: NonNullable<AuthOptions['tokens']> = [...(auth?.tokens ?? [])];
  if (auth?.tokensFile) {
    let text: string;
    try {
      text = readFileSync(auth.tokensFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read auth.tokensFile ${auth.tokensFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    tokens.push(...splitTokens(text));
  }
  const envName = auth?.tokensEnv ?? TOKENS_ENV;
  const fromEnv = env[envName];
  if (fromEnv !== undefined && fromEnv.trim() !== '') tokens.push(...splitTokens(fromEnv));
  else if (auth?.tokensEnv) throw new ConfigError(`auth.tokensEnv names ${auth.tokensEnv}, which is not set`);
  let jwt: AuthOptions['jwt'];
  if (auth?.jwt) {
    const { secretEnv, publicKeyFile, ...rest } = auth.jwt;
    jwt = { ...rest };
    if (secretEnv) {
      const v = env[secretEnv];
      if (!v) throw new ConfigError(`auth.jwt.secretEnv names ${secretEnv}, which is not set`);
      jwt.secret = v;
    }
    if (publicKeyFile) {
      try {
        jwt.publicKey = readFileSync(publicKeyFile, 'utf8');
      } catch (err) {
        throw new ConfigError(`cannot read auth.jwt.publicKeyFile ${publicKeyFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
  }
  if (tokens.length === 0 && !jwt) {
    if (auth && Object.keys(auth).length > 0) throw new ConfigError('auth is configured but has no tokens and no jwt');
    return undefined;
  }
  for (const t of tokens) {
    const token = typeof t === 'string' ? t : t.token;
    if (token.length < 16) throw new ConfigError('auth tokens should be at least 16 characters');
  }
  return {
    tokens,
    jwt,
    requiredScopes: auth?.requiredScopes,
    toolScopes: auth?.toolScopes,
    realm: auth?.realm,
    protectedResource: auth?.protectedResource,
  };
}
