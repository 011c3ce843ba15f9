/**
 * The SSE parser of the lean provider path: line endings, reads split
 * anywhere (inside a CRLF, inside a UTF-8 character), comments, multi-line
 * data, and its bound on one event.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SseParser, SseTooLargeError } from '../../src/llm/sse.js';

function parse(chunks: Uint8Array[], max?: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const p = new SseParser((type, data) => out.push([type, data]), max);
  for (const c of chunks) p.feed(c);
  p.end();
  return out;
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('SseParser', () => {
  it('reads events with LF, CRLF and CR line endings, names, comments, multi-line data, a BOM', () => {
    const body = '\uFEFF: a comment\nevent: delta\ndata: {"a":1}\n\r\ndata: one\r\ndata:two\r\rid: 7\nretry: 10\ndata: three\n\nevent: empty\n\n';
    expect(parse([enc(body)])).toEqual([
      ['delta', '{"a":1}'],
      ['message', 'one\ntwo'],
      ['message', 'three'],
    ]);
  });

  it('gives the same events however the bytes are cut into reads', () => {
    const events = [
      ['message', '{"choices":[{"delta":{"content":"héllo wörld – 你好 🎉"}}]}'],
      ['content_block_delta', 'x'],
      ['message', '[DONE]'],
    ] as const;
    fc.assert(
      fc.property(fc.constantFrom('\n', '\r\n', '\r'), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 40 }), (eol, cuts) => {
        const text = events.map(([t, d]) => (t === 'message' ? '' : `event: ${t}${eol}`) + `data: ${d}${eol}${eol}`).join('');
        const bytes = enc(text);
        const chunks: Uint8Array[] = [];
        for (let i = 0, k = 0; i < bytes.length; k++) {
          const n = cuts[k % cuts.length]!;
          chunks.push(bytes.subarray(i, i + n));
          i += n;
        }
        expect(parse(chunks)).toEqual(events.map(([t, d]) => [t, d]));
      }),
      { numRuns: 300 },
    );
  });

  it('an event with no blank line after it at the end is dropped; a field without a colon is a name with no value', () => {
    expect(parse([enc('data\n\ndata: cut')])).toEqual([['message', '']]);
  });

  it('bounds one event: a line without end, or data lines that never end the event, throw instead of growing', () => {
    expect(() => parse([enc('data: '), enc('x'.repeat(2000))], 1000)).toThrow(SseTooLargeError);
    const lines = Array.from({ length: 200 }, () => enc('data: 0123456789\n'));
    expect(() => parse(lines, 1000)).toThrow(/over 1000 characters/);
  });
});
