/**
 * Knows, from the raw bytes a client sends, whether the connection is in
 * the middle of a WebSocket message — so a message left incomplete (a
 * frame cut short, or a fragmented message whose final frame never comes)
 * can be timed out. ws parses the same bytes but does not say where it is.
 *
 * It reads only frame headers and skips payloads by counting, so the cost
 * is a few byte reads per frame, and it never copies or buffers payload.
 *
 *   HEADER ──(2..14 bytes read)──► PAYLOAD ──(length skipped)──► HEADER
 *
 * "Inside a message" = inside a frame, or after a data frame without FIN
 * (control frames may sit between fragments and do not change that).
 */

const HEADER = 0;
const PAYLOAD = 1;

export class FrameTracker {
  private state = HEADER;
  /** Header bytes gathered so far (a header may straddle chunks). */
  private readonly header = Buffer.alloc(14);
  private headerLen = 0;
  private remaining = 0;
  /** A data frame without FIN was seen and its final fragment has not. */
  private fragmented = false;

  /** True when the last byte seen left a message unfinished. */
  get inMessage(): boolean {
    return this.state === PAYLOAD || this.headerLen > 0 || this.fragmented;
  }

  /** Feeds one chunk of raw bytes from the client. */
  push(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.state === PAYLOAD) {
        const take = Math.min(this.remaining, n - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.state = HEADER;
        continue;
      }
      // Gather the 2-byte base header, then the extended length and mask.
      this.header[this.headerLen++] = chunk[i++]!;
      if (this.headerLen < 2) continue;
      const b1 = this.header[1]!;
      const len7 = b1 & 0x7f;
      const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
      if (this.headerLen < need) continue;
      let length: number;
      if (len7 === 126) length = this.header.readUInt16BE(2);
      else if (len7 === 127) length = Number(this.header.readBigUInt64BE(2));
      else length = len7;
      const b0 = this.header[0]!;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      if (opcode < 8) this.fragmented = !fin; // data or continuation frame
      this.headerLen = 0;
      this.remaining = length;
      this.state = length > 0 ? PAYLOAD : HEADER;
    }
  }
}
