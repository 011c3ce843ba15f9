/**
 * The backplane's wire format, version 1: one JSON object per Redis
 * message on the channel `<keyPrefix>backplane`.
 *
 *   {"v":1,"from":"<process id>","kind":"resource-updated","uri":"demo://counter"}
 *   {"v":1,"from":"<process id>","kind":"list-changed","list":"tools"}
 *   {"v":1,"from":"<process id>","kind":"session-notification","sessionId":"…",
 *    "method":"notifications/message","params":{…}}
 *
 * `from` tags the publishing process so it can ignore its own echo (it has
 * delivered locally already). A receiver checks everything before acting:
 * a message that is not JSON, of another version, of an unknown kind or
 * with a field of the wrong type is dropped and counted, never thrown.
 * Unknown extra fields are ignored, so a later minor addition does not
 * break older processes; a change they must not misread takes `v: 2`.
 */

/** The version this build writes and the only one it accepts. */
export const BACKPLANE_VERSION = 1;

/** Lists whose `list_changed` notification crosses the backplane. */
export type ChangedList = 'tools' | 'resources' | 'prompts';
export const CHANGED_LISTS: readonly ChangedList[] = ['tools', 'resources', 'prompts'];

/** What crosses the backplane. */
export type BackplaneEvent =
  | { readonly kind: 'resource-updated'; readonly uri: string }
  | { readonly kind: 'list-changed'; readonly list: ChangedList }
  | { readonly kind: 'session-notification'; readonly sessionId: string; readonly method: string; readonly params?: Record<string, unknown> };

/** Why a received message was dropped. */
export type DropReason = 'malformed' | 'version';

/** A decoded message, or why it was refused. `echo` is a message this process published. */
export type Decoded = { readonly ok: true; readonly event: BackplaneEvent; readonly from: string } | { readonly ok: false; readonly reason: DropReason };

/** Longest URI, session id or method carried, characters (the message size cap applies too). */
const MAX_FIELD = 8192;

function isString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_FIELD;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Why `event` cannot be published (one line naming the field), or undefined when it can. */
export function eventProblem(event: BackplaneEvent): string | undefined {
  if (!isPlainObject(event)) return 'event should be an object';
  switch (event.kind) {
    case 'resource-updated':
      return isString(event.uri) ? undefined : 'uri should be a non-empty string';
    case 'list-changed':
      return CHANGED_LISTS.includes(event.list) ? undefined : `list should be one of ${CHANGED_LISTS.join(', ')}`;
    case 'session-notification':
      if (!isString(event.sessionId)) return 'sessionId should be a non-empty string';
      if (!isString(event.method)) return 'method should be a non-empty string';
      if (event.params !== undefined && !isPlainObject(event.params)) return 'params should be an object';
      return undefined;
    default:
      return `unknown event kind ${JSON.stringify((event as { kind?: unknown }).kind)}`;
  }
}

/** The JSON of one message. The event should have passed {@link eventProblem}. */
export function encodeMessage(from: string, event: BackplaneEvent): string {
  return JSON.stringify({ v: BACKPLANE_VERSION, from, ...event });
}

/** Parses and checks one received message; never throws. */
export function decodeMessage(text: string): Decoded {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (!isPlainObject(m)) return { ok: false, reason: 'malformed' };
  if (m.v !== BACKPLANE_VERSION) return { ok: false, reason: typeof m.v === 'number' ? 'version' : 'malformed' };
  if (!isString(m.from)) return { ok: false, reason: 'malformed' };
  let event: BackplaneEvent;
  switch (m.kind) {
    case 'resource-updated':
      if (!isString(m.uri)) return { ok: false, reason: 'malformed' };
      event = { kind: 'resource-updated', uri: m.uri };
      break;
    case 'list-changed':
      if (!CHANGED_LISTS.includes(m.list as ChangedList)) return { ok: false, reason: 'malformed' };
      event = { kind: 'list-changed', list: m.list as ChangedList };
      break;
    case 'session-notification':
      if (!isString(m.sessionId) || !isString(m.method) || (m.params !== undefined && !isPlainObject(m.params))) return { ok: false, reason: 'malformed' };
      event = m.params === undefined ? { kind: 'session-notification', sessionId: m.sessionId, method: m.method } : { kind: 'session-notification', sessionId: m.sessionId, method: m.method, params: m.params };
      break;
    default:
      return { ok: false, reason: 'malformed' };
  }
  return { ok: true, event, from: m.from };
}

/** Health of a backplane. */
export type BackplaneState = 'connecting' | 'up' | 'down';

/**
 * What the server needs of a backplane (createRedisBackplane() makes one).
 * Publishing never waits: it returns at once, whatever Redis is doing.
 */
export interface Backplane {
  /** This process's tag on what it publishes. */
  readonly id: string;
  /** Current health: 'up' once both connections work. */
  readonly state: BackplaneState;
  /**
   * Sends `event` to every other process, and to the other local listeners
   * of this backplane at once. Returns without waiting; while Redis is
   * unreachable (or too many publications are pending) the event is dropped
   * and counted. Throws TypeError for an event that is not well formed.
   */
  publish(event: BackplaneEvent, except?: BackplaneListener): void;
  /** Calls `listener` for every event another process (or another local listener) published. Returns the unsubscribe function. */
  subscribe(listener: BackplaneListener): () => void;
  /** Starts connecting. Idempotent. */
  open(): void;
  /** Resolves true once up, or false after `ms`. */
  whenUp(ms: number): Promise<boolean>;
  /** Closes both connections. Idempotent. */
  close(): Promise<void>;
  /** Prometheus metrics of the backplane, read at scrape time. */
  metrics(): BackplaneMetric[];
}

/** Receives an event from the backplane. */
export type BackplaneListener = (event: BackplaneEvent) => void;

/** A metric as the server's registry reads it (the shape of metrics/metrics.ts ExtraMetric). */
export interface BackplaneMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  read: () => Array<{ value: number; labels?: Record<string, string> }>;
}
