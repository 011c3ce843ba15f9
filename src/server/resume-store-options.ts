/**
 * Settings of the resume store (`resumeStore`): where a session's resumable
 * state is kept so that another node (or worker) can resume it after this
 * one died. Declared once here; the config file's schema and the store's
 * resolver read this declaration, and it imports no runtime module.
 */
import { defineOptions, int, str } from '../config/option-set.js';

/**
 * The declaration of the resume store's scalar settings. What each one
 * means is in {@link ResumeStoreOptions}.
 */
export const RESUME_STORE_OPTIONS = defineOptions({
  url: str({ default: 'redis://127.0.0.1:6379' }),
  prefix: str({ default: 'mcp-ws:resume:' }),
  timeoutMs: int({ min: 1, default: 500 }),
  maxStateBytes: int({ min: 256, max: 1024 * 1024, default: 65536 }),
});

/** Options of the resume store (McpWsServerOptions.resumeStore). */
export interface ResumeStoreOptions {
  /** Redis server URL (redis:// or rediss://). Default 'redis://127.0.0.1:6379'. */
  url?: string;
  /** Prefix of every key; the rest of a key is a hash of the session's resume id, never the id. Default 'mcp-ws:resume:'. */
  prefix?: string;
  /**
   * Command timeout: a lookup that Redis does not answer this fast is
   * refused (-32019), and a write given up. Default 500 ms.
   */
  timeoutMs?: number;
  /**
   * Largest serialised state of one session (capabilities, client info,
   * subscriptions); a session whose state grows past it is no longer
   * resumable on another node (in-process resume still works), and a stored
   * value larger than this is refused unread. Default 64 KiB.
   */
  maxStateBytes?: number;
}

/** The resume store's settings, defaults applied. */
export type ResolvedResumeStoreOptions = Required<ResumeStoreOptions>;

/**
 * Resolves and checks the settings.
 *
 * @throws RangeError naming the setting (`resumeStore.timeoutMs …`), or for a URL that is not redis:// or rediss://.
 */
export function resolveResumeStoreOptions(options: ResumeStoreOptions): ResolvedResumeStoreOptions {
  if (typeof options !== 'object' || options === null) throw new RangeError('resumeStore should be an object: { url, prefix, timeoutMs, maxStateBytes }');
  const o = RESUME_STORE_OPTIONS.resolve(options, 'resumeStore.');
  if (!/^rediss?:\/\//.test(o.url)) throw new RangeError(`resumeStore.url should be a redis:// or rediss:// URL, got ${JSON.stringify(o.url.slice(0, 80))}`);
  return o;
}
