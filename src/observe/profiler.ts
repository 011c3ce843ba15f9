/**
 * CPU profiles and heap snapshots of this process, on demand and bounded.
 *
 * - A CPU profile runs V8's sampling profiler through an in-process
 *   `node:inspector` Session for at most {@link MAX_PROFILE_SECONDS}, and
 *   yields the `.cpuprofile` JSON (Chrome DevTools, VS Code, speedscope read
 *   it). One at a time per process: a second request while one runs is
 *   refused, never queued. Aborting it (the HTTP client went away) stops the
 *   profiler at once and disconnects the session.
 * - A heap snapshot is `v8.getHeapSnapshot()`: V8 pauses the whole process
 *   while it walks the heap (seconds for a large heap), then the stream
 *   serialises it as the reader takes it, so the JSON is never held whole.
 *   One at a time per process.
 *
 * The locks are per process (module state): V8 has one profiler, and two
 * servers in one process share it.
 */
import { Session } from 'node:inspector';
import { getHeapSnapshot } from 'node:v8';
import type { Readable } from 'node:stream';

/** The longest CPU profile one request may take. */
export const MAX_PROFILE_SECONDS = 60;
/** The length of a CPU profile when none is asked for. */
export const DEFAULT_PROFILE_SECONDS = 10;
/** Sampling interval of the CPU profiler, microseconds (V8's default is 1000). */
const SAMPLING_INTERVAL_US = 1000;

/** What is running now in this process. */
const busy = { cpu: false, heap: false };

/** True while a CPU profile is being taken in this process. */
export function cpuProfileRunning(): boolean {
  return busy.cpu;
}

/** True while a heap snapshot is being written in this process. */
export function heapSnapshotRunning(): boolean {
  return busy.heap;
}

/** A profile or snapshot refused because one is already running. */
export class ProfilerBusyError extends Error {
  constructor(what: 'cpu' | 'heap') {
    super(what === 'cpu' ? 'a CPU profile is already being taken in this process; try again when it ends' : 'a heap snapshot is already being written in this process; try again when it ends');
    this.name = 'ProfilerBusyError';
  }
}

/**
 * Reads `seconds` from a query string value: a number in (0, 60], default 10.
 * Returns the number, or a one-line message saying what is wrong.
 */
export function parseProfileSeconds(raw: string | null): number | string {
  if (raw === null || raw === '') return DEFAULT_PROFILE_SECONDS;
  if (!/^\d{1,3}(\.\d{1,3})?$/.test(raw)) return `seconds should be a number from 0.001 to ${MAX_PROFILE_SECONDS}, got ${JSON.stringify(raw.slice(0, 32))}`;
  const n = Number(raw);
  if (!(n > 0) || n > MAX_PROFILE_SECONDS) return `seconds should be a number from 0.001 to ${MAX_PROFILE_SECONDS}, got ${raw}`;
  return n;
}

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
}

/**
 * Takes a CPU profile of this process for `seconds` (or until `signal`
 * aborts: the profile taken so far is returned then, and the caller may
 * drop it). Resolves with the `.cpuprofile` JSON text.
 *
 * @throws ProfilerBusyError when a profile is already running.
 */
export async function takeCpuProfile(seconds: number, signal?: AbortSignal): Promise<string> {
  if (busy.cpu) throw new ProfilerBusyError('cpu');
  busy.cpu = true;
  const session = new Session();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    session.connect();
    await post(session, 'Profiler.enable');
    await post(session, 'Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    await post(session, 'Profiler.start');
    await new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      timer = setTimeout(resolve, Math.round(seconds * 1000));
      onAbort = resolve;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    const { profile } = await post<{ profile: object }>(session, 'Profiler.stop');
    return JSON.stringify(profile);
  } finally {
    if (timer) clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    // Disconnecting also stops a profiler left running by a failed step.
    session.disconnect();
    busy.cpu = false;
  }
}

/**
 * Starts a heap snapshot: the process pauses while V8 takes it, then the
 * returned stream serialises it as it is read. The lock is held until the
 * stream ends or is destroyed.
 *
 * @throws ProfilerBusyError when a snapshot is already being written.
 */
export function startHeapSnapshot(): Readable {
  if (busy.heap) throw new ProfilerBusyError('heap');
  busy.heap = true;
  let stream: Readable;
  try {
    stream = getHeapSnapshot();
  } catch (err) {
    busy.heap = false;
    throw err;
  }
  stream.once('close', () => {
    busy.heap = false;
  });
  return stream;
}

/** A file name for a profile of this process: `mcp-ws-<pid>-<UTC time>.<ext>`. */
export function profileFileName(ext: 'cpuprofile' | 'heapsnapshot', at = new Date()): string {
  return `mcp-ws-${process.pid}-${at.toISOString().replace(/[:.]/g, '-')}.${ext}`;
}
