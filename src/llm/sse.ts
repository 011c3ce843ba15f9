/**
 * A small server-sent events parser for provider response bodies (the
 * WHATWG "event stream" interpretation, the parts a provider uses): lines
 * end in LF, CRLF or CR, possibly split across reads; `data:` lines of one
 * event join with LF; `event:` names it; `id:`, `retry:` and comments
 * (`:` lines) are read and dropped; a blank line dispatches an event that
 * has data. Bytes are decoded as UTF-8 with a streaming decoder, so a
 * character split across reads is whole; a leading BOM is dropped.
 *
 * Bounded: an event (its data, or one line without end) longer than
 * `maxEventChars` throws {@link SseTooLargeError} instead of growing.
 */

/** An event longer than the parser's bound. */
export class SseTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the provider sent an event over ${limit} characters`);
    this.name = 'SseTooLargeError';
  }
}

/** Called with each event: its type ('message' when unnamed) and its data. */
export type SseListener = (type: string, data: string) => void;

/** Default bound on one event, characters. */
export const DEFAULT_MAX_EVENT_CHARS = 1 << 20;

const LF = 10;
const CR = 13;

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  /** An incomplete line carried over from the last read. */
  private rest = '';
  /** The last read ended in CR: a LF starting the next one belongs to it. */
  private afterCr = false;
  private started = false;
  private data = '';
  private hasData = false;
  private type = '';

  constructor(
    private readonly onEvent: SseListener,
    private readonly maxEventChars = DEFAULT_MAX_EVENT_CHARS,
  ) {}

  /** Parses one read of the body; events complete in it are dispatched before it returns. */
  feed(bytes: Uint8Array): void {
    let text = this.decoder.decode(bytes, { stream: true });
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.feedText(text);
  }

  /** Ends the body: a last line without end is parsed; an event with no blank line after it is dropped, as the standard says. */
  end(): void {
    const tail = this.decoder.decode();
    if (tail.length > 0) this.feedText(tail);
    if (this.rest.length > 0) {
      const line = this.rest;
      this.rest = '';
      this.line(line);
    }
  }

  private feedText(text: string): void {
    let start = 0;
    const n = text.length;
    if (this.afterCr && n > 0) {
      this.afterCr = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    for (let i = start; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      let line = text.slice(start, i);
      if (this.rest.length > 0) {
        line = this.rest + line;
        this.rest = '';
      }
      if (c === CR) {
        if (i + 1 < n) {
          if (text.charCodeAt(i + 1) === LF) i++;
        } else this.afterCr = true;
      }
      start = i + 1;
      this.line(line);
    }
    if (start < n) {
      const more = start === 0 ? text : text.slice(start);
      if (this.rest.length + more.length > this.maxEventChars) throw new SseTooLargeError(this.maxEventChars);
      this.rest += more;
    }
  }

  private line(line: string): void {
    if (line.length === 0) {
      if (this.hasData) {
        const type = this.type === '' ? 'message' : this.type;
        const data = this.data;
        this.data = '';
        this.hasData = false;
        this.type = '';
        this.onEvent(type, data);
      } else this.type = '';
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) return; // a comment
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = '';
    if (colon !== -1) {
      const from = line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
      value = from >= line.length ? '' : line.slice(from);
    }
    if (field === 'data') {
      if (this.hasData) this.data += `\n${value}`;
      else {
        this.data = value;
        this.hasData = true;
      }
      if (this.data.length > this.maxEventChars) throw new SseTooLargeError(this.maxEventChars);
    } else if (field === 'event') this.type = value;
    // id, retry and unknown fields: nothing a provider stream needs.
  }
}
