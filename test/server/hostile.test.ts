/**
 * The hostile-input battery: raw bytes on a TCP socket against a real
 * `mcp-ws serve` child process. Frame cases follow the Autobahn test suite's
 * sections (reserved bits, opcodes, control frames, UTF-8, fragmentation,
 * limits); each expects the close code RFC 6455 prescribes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type Serving } from '../cli/run.js';
import { RawClient, scrape } from '../helpers.js';

let srv: Serving;
let port: number;
let url: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-hostile-'));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ port: 0, maxPayload: 65536, handshakeTimeoutMs: 1000, logLevel: 'silent' }));
  srv = await serve(['--config', config]);
  url = srv.url;
  port = Number(new URL(url).port);
});
afterAll(() => {
  srv?.child.kill('SIGKILL');
});

/** Opens a raw socket and completes the handshake by hand; resolves with the socket and bytes after the 101. */
function handshake(): Promise<{ socket: Socket; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mcp\r\n\r\n',
      );
    });
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const head = buf.subarray(0, end).toString();
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(head));
      resolve({ socket, rest: buf.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

/** Builds one client frame. */
function frame(opts: { fin?: boolean; rsv?: number; opcode: number; payload?: Buffer; mask?: boolean; declaredLength?: bigint }): Buffer {
  const payload = opts.payload ?? Buffer.alloc(0);
  const fin = opts.fin ?? true;
  const mask = opts.mask ?? true;
  const b0 = (fin ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opts.opcode;
  const len = opts.declaredLength ?? BigInt(payload.length);
  let header: Buffer;
  if (len < 126n) header = Buffer.from([b0, (mask ? 0x80 : 0) | Number(len)]);
  else if (len < 65536n) {
    header = Buffer.alloc(4);
    header[0] = b0;
    header[1] = (mask ? 0x80 : 0) | 126;
    header.writeUInt16BE(Number(len), 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = b0;
    header[1] = (mask ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(len, 2);
  }
  if (!mask) return Buffer.concat([header, payload]);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= key[i % 4]!;
  return Buffer.concat([header, key, masked]);
}

const text = (s: string | Buffer, fin = true) => frame({ opcode: 1, fin, payload: Buffer.isBuffer(s) ? s : Buffer.from(s) });
const closeFrame = (code: number, reason: Buffer = Buffer.alloc(0)) => {
  const p = Buffer.alloc(2 + reason.length);
  p.writeUInt16BE(code, 0);
  reason.copy(p, 2);
  return frame({ opcode: 8, payload: p });
};

/**
 * Sends bytes and resolves with the close code the server sent ('eof' when it
 * just hung up). With `sentinel`, a ping request follows the bytes and its
 * reply resolves 'alive'.
 */
async function closeCodeFor(bytes: Buffer, sentinel = false): Promise<number | 'eof' | 'alive'> {
  const { socket, rest } = await handshake();
  return new Promise((resolve) => {
    let buf = rest;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('eof');
    }, 5000);
    const scan = (): void => {
      // Server frames are unmasked; look for a close frame.
      let i = 0;
      while (i + 2 <= buf.length) {
        const op = buf[i]! & 0x0f;
        let len = buf[i + 1]! & 0x7f;
        let off = i + 2;
        if (len === 126) {
          if (off + 2 > buf.length) return;
          len = buf.readUInt16BE(off);
          off += 2;
        } else if (len === 127) {
          if (off + 8 > buf.length) return;
          len = Number(buf.readBigUInt64BE(off));
          off += 8;
        }
        if (off + len > buf.length) return;
        if (sentinel && op === 1 && buf.subarray(off, off + len).includes('"sentinel"')) {
          clearTimeout(timer);
          socket.destroy();
          resolve('alive');
          return;
        }
        if (op === 8) {
          clearTimeout(timer);
          socket.destroy();
          resolve(len >= 2 ? buf.readUInt16BE(off) : 1005);
          return;
        }
        i = off + len;
      }
    };
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      scan();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve('eof');
    });
    socket.on('error', () => {});
    socket.write(bytes);
    if (sentinel) socket.write(text('{"jsonrpc":"2.0","id":"sentinel","method":"ping"}'));
    scan();
  });
}

const BAD_UTF8 = Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64]);

describe('hostile frames (Autobahn-style cases)', () => {
  it.each<[string, () => Buffer, number]>([
    ['3.1 RSV1 set without an extension', () => frame({ opcode: 1, rsv: 4, payload: Buffer.from('x') }), 1002],
    ['3.2 RSV2 set', () => frame({ opcode: 1, rsv: 2, payload: Buffer.from('x') }), 1002],
    ['3.3 RSV3 set on a ping', () => frame({ opcode: 9, rsv: 1 }), 1002],
    ['4.1.1 reserved data opcode 3', () => frame({ opcode: 3 }), 1002],
    ['4.1.5 reserved data opcode 7', () => frame({ opcode: 7, payload: Buffer.from('x') }), 1002],
    ['4.2.1 reserved control opcode 11', () => frame({ opcode: 11 }), 1002],
    ['4.2.5 reserved control opcode 15', () => frame({ opcode: 15, payload: Buffer.from('x') }), 1002],
    ['unmasked client frame', () => frame({ opcode: 1, mask: false, payload: Buffer.from('{}') }), 1002],
    ['5.1 fragmented ping', () => frame({ opcode: 9, fin: false, payload: Buffer.from('a') }), 1002],
    ['5.2 fragmented pong', () => frame({ opcode: 10, fin: false }), 1002],
    ['2.5 ping payload of 126 bytes', () => frame({ opcode: 9, payload: Buffer.alloc(126, 0x61) }), 1002],
    ['7.3.1 close payload of 1 byte', () => frame({ opcode: 8, payload: Buffer.from([0x03]) }), 1002],
    ['close payload over 125 bytes', () => frame({ opcode: 8, payload: Buffer.alloc(126, 0x03) }), 1002],
    ['7.9.1 close code 0', () => closeFrame(0), 1002],
    ['7.9.2 close code 999', () => closeFrame(999), 1002],
    ['7.9.3 close code 1004', () => closeFrame(1004), 1002],
    ['7.9.4 close code 1005', () => closeFrame(1005), 1002],
    ['7.9.5 close code 1006', () => closeFrame(1006), 1002],
    ['7.9.6 close code 1016', () => closeFrame(1016), 1002],
    ['7.9.9 close code 2999', () => closeFrame(2999), 1002],
    ['close code 5000', () => closeFrame(5000), 1002],
    ['7.5.1 invalid UTF-8 in a close reason', () => closeFrame(1000, BAD_UTF8), 1007],
    ['6.3.1 invalid UTF-8 in a text frame', () => text(BAD_UTF8), 1007],
    ['6.4.1 invalid UTF-8 across fragments', () => Buffer.concat([text(BAD_UTF8.subarray(0, 12), false), frame({ opcode: 0, payload: BAD_UTF8.subarray(12) })]), 1007],
    ['5.9 continuation without a start', () => frame({ opcode: 0, payload: Buffer.from('x') }), 1002],
    ['5.x new text frame inside a fragmented message', () => Buffer.concat([text('{"a":', false), text('1}')]), 1002],
    ['binary frame without a codec', () => frame({ opcode: 2, payload: Buffer.from('{}') }), 1003],
    ['9.x message over maxPayload', () => text('x'.repeat(70_000)), 1009],
    ['declared length 2^31', () => frame({ opcode: 1, declaredLength: 2n ** 31n }), 1009],
    ['declared length 2^53', () => frame({ opcode: 1, declaredLength: 2n ** 53n }), 1009],
    ['declared length 2^63 - 1', () => frame({ opcode: 1, declaredLength: 2n ** 63n - 1n }), 1009],
    ['fragments adding up past maxPayload', () => Buffer.concat([text('x'.repeat(40_000), false), frame({ opcode: 0, payload: Buffer.alloc(40_000, 0x78) })]), 1009],
  ])('%s → %i', async (_name, build, expected) => {
    expect(await closeCodeFor(build())).toBe(expected);
  });

  it('answers a clean close with 1000 and a ping with a pong', async () => {
    expect(await closeCodeFor(closeFrame(1000))).toBe(1000);
    expect(await closeCodeFor(closeFrame(3000))).toBe(3000);
    expect(await closeCodeFor(closeFrame(4999))).toBe(4999);
  });
});

describe('hostile handshakes', () => {
  function rawRequest(text: string): Promise<string> {
    return new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write(text));
      let data = '';
      s.on('data', (d: Buffer) => (data += d.toString()));
      s.on('close', () => resolve(data));
      s.on('error', () => resolve(data));
      setTimeout(() => s.destroy(), 5000);
    });
  }
  const upgrade = (extra: string) =>
    'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

  it('rejects a Sec-WebSocket-Protocol full of spaces at once', async () => {
    const r = await rawRequest(upgrade(`Sec-WebSocket-Protocol: mcp${' '.repeat(15_000)}x\r\n`));
    expect(r).toMatch(/^HTTP\/1\.1 (400|431)/);
  });

  it('does not throw on header parameters named __proto__ or constructor', async () => {
    const r = await rawRequest(upgrade('Sec-WebSocket-Extensions: permessage-deflate; __proto__=1; constructor=2; toString\r\nSec-WebSocket-Protocol: mcp, __proto__, constructor\r\n'));
    expect(r).toMatch(/^HTTP\/1\.1 (101|400)/);
  });

  it('answers 2,000 headers with 400 (CVE-2024-37890 shape) and stays up', async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `a${i}: b\r\n`).join('');
    expect(await rawRequest(upgrade(lines))).toMatch(/^HTTP\/1\.1 (400|431)/);
  });

  it('cuts 1,000 slow handshakes at the timeout while a normal client still connects', async () => {
    const sockets: Socket[] = [];
    const closed: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => {});
      s.resume(); // read, so the server's 408 and FIN are seen
      s.on('connect', () => s.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n')); // headers never finish
      closed.push(new Promise((r) => s.on('close', () => r())));
      sockets.push(s);
    }
    const c = await RawClient.session(url);
    expect((await c.request('ping')).result).toEqual({});
    c.close();
    const all = await Promise.race([Promise.all(closed).then(() => 'all closed'), new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
    for (const s of sockets) s.destroy();
    expect(all).toBe('all closed');
  });
});

describe('fuzzed messages', () => {
  const id = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.double(), fc.boolean(), fc.object({ maxDepth: 1 }));
  const anyValue = fc.anything({ maxDepth: 2 });
  const method = fc.oneof(
    fc.constantFrom('ping', 'tools/list', 'tools/call', 'resources/read', 'prompts/get', 'initialize', 'logging/setLevel', 'notifications/cancelled', 'resources/subscribe'),
    fc.string({ maxLength: 12 }),
    anyValue,
  );
  const envelope = fc.record(
    { jsonrpc: fc.oneof(fc.constant('2.0'), anyValue), id, method, params: fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), anyValue), anyValue), result: anyValue, error: anyValue },
    { requiredKeys: [] },
  );
  const payload = fc.oneof(
    envelope.map((e) => JSON.stringify(e)),
    fc.array(envelope, { maxLength: 3 }).map((a) => JSON.stringify(a)),
    fc.string({ maxLength: 200 }),
    fc.json(),
  );

  it('never crashes, and every reply is valid JSON-RPC that echoes a valid id', async () => {
    const c = await RawClient.session(url);
    let sentinel = 0;
    await fc.assert(
      fc.asyncProperty(payload, async (p) => {
        c.send(p);
        const mark = `sentinel-${sentinel++}`;
        c.send({ jsonrpc: '2.0', id: mark, method: 'ping' });
        for (;;) {
          const m = await c.next();
          const items = Array.isArray(m) ? m : [m];
          for (const r of items) {
            if (r.method !== undefined) continue; // a notification from the server (e.g. list_changed)
            expect(r.jsonrpc).toBe('2.0');
            expect('result' in r !== 'error' in r).toBe(true);
            expect(typeof r.id === 'string' || Number.isSafeInteger(r.id) || r.id === null).toBe(true);
            if (r.error) expect(typeof r.error.code).toBe('number');
          }
          if (!Array.isArray(m) && m.id === mark) break;
        }
      }),
      { numRuns: 300, seed: 20261125 },
    );
    c.close();
  });

  it('survives random bytes as text frames, and the server is still up with memory near its baseline', async () => {
    const metrics = async () => {
      const base = url.replace('ws://', 'http://').replace('/ws', '');
      const text = await scrape(base);
      return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)![1]);
    };
    const before = await metrics();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
        const outcome = await closeCodeFor(text(Buffer.from(bytes)), true);
        // Valid UTF-8 gets a JSON-RPC error and the session lives on; invalid UTF-8 closes with 1007.
        expect([1007, 'alive']).toContain(outcome);
      }),
      { numRuns: 60, seed: 7 },
    );
    const c = await RawClient.session(url);
    expect((await c.request('tools/call', { name: 'echo', arguments: { text: 'after the battery' } })).result.content[0].text).toBe('after the battery');
    c.close();
    const after = await metrics();
    expect(after - before).toBeLessThan(64 * 1024 * 1024);
  });
});
