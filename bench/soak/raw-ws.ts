/**
 * WebSocket by hand over a plain TCP socket, for the peers a well-behaved
 * library would never be: upgrades that then go silent, frames with bad
 * UTF-8, reserved opcodes or lengths over the limit, and readers that stop
 * reading. Only what the soak needs: write an upgrade, encode client frames,
 * and find the server's close code in whatever it sends back.
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

/** An Error with a code, so callers report what the server did by name. */
function coded(message: string, code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** Where to connect and what to send with the upgrade. */
export interface RawTarget {
  host: string;
  port: number;
  path: string;
  /** Extra request headers, e.g. Authorization. */
  headers?: Record<string, string>;
}

/** Opens a TCP connection; resolves once connected, rejects on error or after `timeoutMs`. */
export function openTcp(target: RawTarget, timeoutMs = 5_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen: a FIN from the server does not make this side end too, so a
    // peer that never closes stays that way and the server's half-closed
    // sockets are visible.
    const socket = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(coded('connect timeout', 'CONNECT_TIMEOUT'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The upgrade request text (complete, with the blank line) for `target`. */
export function upgradeRequest(target: RawTarget): string {
  const lines = [
    `GET ${target.path} HTTP/1.1`,
    `Host: ${target.host}:${target.port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Protocol: mcp',
  ];
  for (const [k, v] of Object.entries(target.headers ?? {})) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Status of an HTTP response head, or undefined when `head` is not one yet. */
export function responseStatus(head: Buffer): number | undefined {
  const end = head.indexOf('\r\n');
  if (end < 0) return undefined;
  const m = /^HTTP\/1\.1 (\d{3})/.exec(head.subarray(0, end).toString('latin1'));
  return m ? Number(m[1]) : undefined;
}

/**
 * Sends the upgrade and waits for the response head. Resolves with the
 * status and the socket (with any bytes after the head); the socket is left
 * open whatever the status.
 */
export function upgrade(target: RawTarget, timeoutMs = 5_000): Promise<{ status: number; socket: Socket; rest: Buffer }> {
  return openTcp(target, timeoutMs).then(
    (socket) =>
      new Promise((resolve, reject) => {
        let buf: Buffer = Buffer.alloc(0);
        const timer = setTimeout(() => done(coded('no upgrade response', 'NO_UPGRADE_RESPONSE')), timeoutMs);
        const done = (err?: Error, status?: number, rest?: Buffer): void => {
          clearTimeout(timer);
          socket.removeListener('data', onData);
          socket.removeListener('error', onError);
          socket.removeListener('close', onClose);
          if (err) {
            socket.destroy();
            reject(err);
          } else resolve({ status: status!, socket, rest: rest! });
        };
        const onData = (chunk: Buffer): void => {
          buf = Buffer.concat([buf, chunk]);
          const end = buf.indexOf('\r\n\r\n');
          if (end >= 0) done(undefined, responseStatus(buf) ?? 0, buf.subarray(end + 4));
          else if (buf.length > 16_384) done(coded('response head over 16 KiB', 'HEAD_TOO_LONG'));
        };
        const onError = (err: Error): void => done(err);
        const onClose = (): void => done(coded('closed before the upgrade response', 'CLOSED_BEFORE_RESPONSE'));
        socket.on('data', onData);
        socket.on('error', onError);
        socket.on('close', onClose);
        socket.write(upgradeRequest(target));
      }),
  );
}

/** Options of {@link frame}. */
export interface FrameOptions {
  fin?: boolean;
  /** Masked, as a client must. Default true. */
  mask?: boolean;
  /** RSV1..3 bits (0..7). */
  rsv?: number;
  /** Length to announce instead of the payload's (to claim an oversize frame). */
  claimLength?: number;
}

const ZERO_KEY = Buffer.alloc(4);

/** Encodes one client frame. */
export function frame(opcode: number, payload: Buffer, options: FrameOptions = {}): Buffer {
  const mask = options.mask ?? true;
  const len = options.claimLength ?? payload.length;
  const b0 = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | (opcode & 0x0f);
  let head: Buffer;
  if (len < 126) {
    head = Buffer.from([b0, (mask ? 0x80 : 0) | len]);
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = b0;
    head[1] = (mask ? 0x80 : 0) | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = (mask ? 0x80 : 0) | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!mask) return Buffer.concat([head, payload]);
  // Masked with an all-zero key: valid (the server unmasks it like any other) and
  // free, so megabytes of frames cost the soak no per-byte loop. Random keys
  // protect browsers' intermediaries, which loopback has none of.
  return Buffer.concat([head, ZERO_KEY, payload]);
}

/** A masked text frame carrying `value` as JSON. */
export function jsonFrame(value: unknown): Buffer {
  return frame(0x1, Buffer.from(JSON.stringify(value)));
}

/**
 * Reads server frames as they arrive, keeping only what the soak needs: the
 * close code, and how many text frames came. Data frames are dropped as soon
 * as they are parsed, so a reader that drains megabytes holds none of them.
 */
export class FrameReader {
  closeCode: number | undefined;
  textFrames = 0;
  /** First text frame payloads, up to 4, for reply checks. */
  readonly firstTexts: string[] = [];
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < 2) return;
      const opcode = this.buf[0]! & 0x0f;
      let len = this.buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf.length < off + len) return;
      const payload = this.buf.subarray(off, off + len);
      if (opcode === 0x8) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      else if (opcode === 0x1) {
        this.textFrames++;
        if (this.firstTexts.length < 4) this.firstTexts.push(payload.toString('utf8'));
      }
      this.buf = this.buf.subarray(off + len);
    }
  }
}

/** How a held socket ended: the server's close code, or what TCP showed. */
export type HoldEnd = number | 'reset' | 'fin-held' | 'open';

/**
 * Waits until the server closes the socket (or `timeoutMs` passes), feeding
 * everything it sends to a FrameReader. Resolves with the close code seen;
 * 'reset' when the connection ended without a close frame; 'fin-held' when
 * the server sent FIN (half-closed) but still held its side open when the
 * wait ended (a probe byte written then drew no reset); 'open' when the
 * server sent nothing that ends a connection. The socket is destroyed.
 */
export function awaitClose(socket: Socket, reader: FrameReader, timeoutMs: number): Promise<HoldEnd> {
  return new Promise((resolve) => {
    let settled = false;
    let gotFin = false;
    const finish = (v: HoldEnd): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => {
      if (reader.closeCode !== undefined) return finish(reader.closeCode);
      if (!gotFin) return finish('open');
      // Half-closed by the server: does it still hold its side? A write to a
      // fully closed socket draws a reset, and the write after that fails.
      socket.write(Buffer.from([0x88, 0x80, 0, 0, 0, 0]), () => undefined);
      setTimeout(() => {
        socket.write(Buffer.from([0x88, 0x80, 0, 0, 0, 0]), (err) => finish(err ? 'reset' : 'fin-held'));
        setTimeout(() => finish('fin-held'), 2_000);
      }, 300);
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      // The server sent its close frame: stop waiting.
      if (reader.closeCode !== undefined) finish(reader.closeCode);
    });
    socket.on('end', () => {
      gotFin = true;
    });
    socket.on('error', () => finish(reader.closeCode ?? 'reset'));
    socket.on('close', () => finish(reader.closeCode ?? 'reset'));
    socket.resume();
  });
}
