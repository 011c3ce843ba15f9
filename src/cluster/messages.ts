/**
 * The IPC messages between the cluster's primary and its workers (over
 * node:cluster's channel; every message is a plain object with a `t` tag
 * under the `mcp-ws:` prefix, so a user's own cluster messages pass by).
 *
 *   worker → primary   ready {url, line}      listening; the primary prints one ready line when all are
 *                      scrape {n}             a /metrics request arrived here: merge every worker's text
 *                      collected {n, text}    this worker's own exposition text, for scrape n
 *                      slot {n, ip, limit}    take a connection slot of `ip` against the cluster-wide limit
 *                      unslot {ip}            give one back
 *   primary → worker   collect {n}            send your exposition text for scrape n
 *                      scraped {n, text}      the merged text of scrape n
 *                      slotted {n, ok}        the answer to slot n
 *                      state {up, total, draining}   the cluster's state, sent on every change
 */

export const TAG = 'mcp-ws:';

export type WorkerMessage =
  | { t: 'mcp-ws:ready'; url: string; line: string }
  | { t: 'mcp-ws:scrape'; n: number }
  | { t: 'mcp-ws:collected'; n: number; text: string }
  | { t: 'mcp-ws:slot'; n: number; ip: string; limit: number }
  | { t: 'mcp-ws:unslot'; ip: string };

export type PrimaryMessage =
  | { t: 'mcp-ws:collect'; n: number }
  | { t: 'mcp-ws:scraped'; n: number; text: string }
  | { t: 'mcp-ws:slotted'; n: number; ok: boolean }
  | { t: 'mcp-ws:state'; up: number; total: number; draining: boolean };

/** The cluster as a worker sees it (for /readyz). */
export interface ClusterState {
  /** Workers listening now. */
  readonly up: number;
  /** Workers the primary keeps. */
  readonly total: number;
  /** The primary is shutting the cluster down. */
  readonly draining: boolean;
}

/** True for a message of ours (cluster channels also carry users' messages). */
export function isOurs(msg: unknown): msg is { t: string } {
  return typeof msg === 'object' && msg !== null && typeof (msg as { t?: unknown }).t === 'string' && (msg as { t: string }).t.startsWith(TAG);
}
