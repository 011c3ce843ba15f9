/**
 * The generator's wire text, precomputed: a request is `prefix + id + suffix`
 * (string concatenation, no JSON.stringify per request), and a response is
 * read for its id and outcome straight from the bytes when it has one of the
 * two shapes servers write, with JSON.parse only as the fallback.
 *
 *   mcp-ws, ws, most servers:  {"jsonrpc":"2.0","id":17,"result":…}   id read forwards
 *   the SDK's Protocol:        {"result":…,"jsonrpc":"2.0","id":17}    id read backwards
 */

/** One pre-serialised request shape. */
export interface RequestTemplate {
  /** `{"jsonrpc":"2.0","id":` */
  readonly prefix: string;
  /** `,"method":…,"params":…}` */
  readonly suffix: string;
  /** Bytes of a request whose id has six digits. */
  readonly approxBytes: number;
}

const PREFIX = '{"jsonrpc":"2.0","id":';
/** Filler for the echo text: printable, varied, nothing JSON needs to escape. */
const FILLER = 'The quick brown fox jumps over the lazy dog; MCP over WebSocket load test payload. ';

/**
 * Builds the template of a run's requests. With `params` undefined and method
 * tools/call, the params call the demo tool `echo` with text padded so a
 * whole request is about `size` bytes.
 */
export function buildRequestTemplate(method: string, params: Record<string, unknown> | undefined, size: number): RequestTemplate {
  const m = JSON.stringify(method);
  if (params !== undefined || method !== 'tools/call') {
    const suffix = params === undefined ? `,"method":${m}}` : `,"method":${m},"params":${JSON.stringify(params)}}`;
    return { prefix: PREFIX, suffix, approxBytes: Buffer.byteLength(PREFIX + '123456' + suffix) };
  }
  const head = `,"method":${m},"params":{"name":"echo","arguments":{"text":"`;
  const tail = '"}}}';
  const fixed = PREFIX.length + 6 + head.length + tail.length;
  const pad = Math.max(0, size - fixed);
  const text = FILLER.repeat(Math.ceil(pad / FILLER.length)).slice(0, pad);
  const suffix = head + text + tail;
  return { prefix: PREFIX, suffix, approxBytes: fixed + pad };
}

/** The initialize request every session sends first (id 0). */
export function initializeRequest(protocolVersion: string): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion, capabilities: {}, clientInfo: { name: 'mcp-ws-bench', version: '0.1.0' } },
  });
}

export const INITIALIZED_NOTIFICATION = '{"jsonrpc":"2.0","method":"notifications/initialized"}';

/** Outcome of reading one inbound message. */
export const enum Reading {
  /** A success response; its id is in `readResponse.id`. */
  Ok = 1,
  /** An error response; its id is in `readResponse.id`. */
  Error = 2,
  /** Not a response with a numeric id (a notification, a server request, garbage). */
  Other = 3,
}

const FORWARD = Uint8Array.from(Buffer.from(PREFIX));
const RESULT_FIRST = Uint8Array.from(Buffer.from('{"result":'));
const ID_TAIL = Uint8Array.from(Buffer.from('"id":'));

/** The id found by the last {@link readResponse} call (module state: no allocation per message). */
export let lastId = -1;
/** The error message found by the last {@link readResponse} that returned Error, when it was parsed. */
export let lastErrorMessage = '';

function startsWith(buf: Uint8Array, bytes: Uint8Array): boolean {
  if (buf.length < bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (buf[i] !== bytes[i]) return false;
  return true;
}

/**
 * Reads one inbound message: success, error or other, with the id left in
 * {@link lastId}. Allocation-free for the two common shapes.
 */
export function readResponse(buf: Buffer): Reading {
  if (startsWith(buf, FORWARD)) {
    let i = FORWARD.length;
    let id = 0;
    let digits = 0;
    for (let c = buf[i]!; c >= 48 && c <= 57; c = buf[++i]!) {
      id = id * 10 + (c - 48);
      digits++;
    }
    // `,"result"` or `,"error"`: the byte after `,"` tells.
    if (digits > 0 && digits < 16 && buf[i] === 44 && buf[i + 1] === 34) {
      lastId = id;
      if (buf[i + 2] === 114) return Reading.Ok;
      // Errors are rare: parse them fully for their message.
    }
  } else if (startsWith(buf, RESULT_FIRST)) {
    // `…,"id":17}`: the top-level id is the last member, so the tail is digits then `}`.
    let end = buf.length - 1;
    while (end > 0 && (buf[end] === 32 || buf[end] === 10 || buf[end] === 13)) end--;
    if (buf[end] === 125) {
      let i = end - 1;
      let id = 0;
      let scale = 1;
      while (i > 0 && buf[i]! >= 48 && buf[i]! <= 57 && scale < 1e15) {
        id += (buf[i]! - 48) * scale;
        scale *= 10;
        i--;
      }
      const at = i - ID_TAIL.length + 1;
      if (scale > 1 && at > 0 && (buf[at - 1] === 44 || buf[at - 1] === 123)) {
        let match = true;
        for (let k = 0; k < ID_TAIL.length; k++) {
          if (buf[at + k] !== ID_TAIL[k]) {
            match = false;
            break;
          }
        }
        if (match) {
          lastId = id;
          return Reading.Ok;
        }
      }
    }
  }
  return readParsed(buf);
}

function readParsed(buf: Buffer): Reading {
  let msg: unknown;
  try {
    msg = JSON.parse(buf.toString());
  } catch {
    return Reading.Other;
  }
  return classifyParsed(msg);
}

/** Reads an already parsed message (the HTTP driver's SSE path uses this too). */
export function classifyParsed(msg: unknown): Reading {
  if (typeof msg !== 'object' || msg === null) return Reading.Other;
  const m = msg as { id?: unknown; method?: unknown; result?: unknown; error?: { message?: unknown } };
  if (typeof m.id !== 'number' || m.method !== undefined) return Reading.Other;
  lastId = m.id;
  if (m.error !== undefined) {
    lastErrorMessage = typeof m.error?.message === 'string' ? m.error.message : JSON.stringify(m.error);
    return Reading.Error;
  }
  return m.result !== undefined ? Reading.Ok : Reading.Other;
}
