/**
 * MCP protocol revisions this server speaks, newest first, and what each allows.
 *
 * Negotiation follows the lifecycle rules: when the client asks for a revision
 * we support, we answer with it; otherwise we answer with our latest and the
 * client decides whether to go on. The stateless 2026-07-28 revision is meant
 * to slot in here as one more entry with its own feature flags.
 */

export const LATEST_PROTOCOL_VERSION = '2025-11-25';

export const SUPPORTED_PROTOCOL_VERSIONS: readonly string[] = [
  '2025-11-25',
  '2025-06-18',
  '2025-03-26',
  '2024-11-05',
];

/** The revision to answer an initialize that asked for `requested`. */
export function negotiateVersion(requested: unknown): string {
  return typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(requested)
    ? requested
    : LATEST_PROTOCOL_VERSION;
}

/** JSON-RPC batches were part of 2025-03-26 only (added there, removed in 2025-06-18). */
export function allowsBatch(version: string | undefined): boolean {
  return version === '2025-03-26';
}
