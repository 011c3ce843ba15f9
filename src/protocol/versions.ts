/**
 * MCP protocol revisions this server speaks, newest first, per era, and what
 * each allows.
 *
 * Two eras (the 2026-07-28 versioning section's terms):
 * - legacy (2025-11-25 and older): a session opened by `initialize`, whose
 *   answer negotiates the revision for the rest of the connection;
 * - modern (2026-07-28): no handshake; every request names its revision in
 *   `_meta` (see meta.ts) and is served on its own.
 *
 * Legacy negotiation follows the lifecycle rules: when the client asks for a
 * revision we support, we answer with it; otherwise we answer with our latest
 * legacy one and the client decides whether to go on.
 */

/** The newest revision negotiated by `initialize`. */
export const LATEST_PROTOCOL_VERSION = '2025-11-25';

/** Revisions negotiated by `initialize` (legacy era), newest first. */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly string[] = [
  '2025-11-25',
  '2025-06-18',
  '2025-03-26',
  '2024-11-05',
];

/** The newest stateless revision. */
export const LATEST_MODERN_PROTOCOL_VERSION = '2026-07-28';

/** Revisions named per request in `_meta` (modern era), newest first. */
export const MODERN_PROTOCOL_VERSIONS: readonly string[] = ['2026-07-28'];

/**
 * Every revision this server speaks, modern first: `supportedVersions` of
 * `server/discover` and `data.supported` of -32022. Legacy revisions are
 * listed too, so a dual-era client knows it may fall back to `initialize`.
 */
export const ALL_PROTOCOL_VERSIONS: readonly string[] = [...MODERN_PROTOCOL_VERSIONS, ...SUPPORTED_PROTOCOL_VERSIONS];

/** The revision to answer an initialize that asked for `requested`. */
export function negotiateVersion(requested: unknown): string {
  return typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(requested)
    ? requested
    : LATEST_PROTOCOL_VERSION;
}

/** True for a revision served per request, with no session (2026-07-28). */
export function isModernVersion(version: unknown): boolean {
  return typeof version === 'string' && MODERN_PROTOCOL_VERSIONS.includes(version);
}

/** JSON-RPC batches were part of 2025-03-26 only (added there, removed in 2025-06-18). */
export function allowsBatch(version: string | undefined): boolean {
  return version === '2025-03-26';
}
