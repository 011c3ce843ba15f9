/**
 * Message I/O of an open client socket: the codec the server selected (if
 * any), and sending / receiving one message through it or as plain text.
 */
import WebSocket from 'ws';
import { createCodec } from '../compression/codecs.js';
import { codecNameOf } from '../compression/negotiate.js';
import { WireCodec } from '../compression/wire-codec.js';
import type { ResolvedConnectOptions } from './open-options.js';

/**
 * The codec of an open socket, when the server selected one of the codecs
 * offered: encode() / receive() handle binary frames, in order.
 */
export function wireFor(ws: WebSocket, options: ResolvedConnectOptions): WireCodec | undefined {
  const name = codecNameOf(ws.protocol);
  if (name === undefined || !options.codecs.includes(name)) return undefined;
  return new WireCodec(createCodec(name), { maxPayload: options.maxPayload, minCompressSize: options.minCompressSize });
}

/**
 * Sends one serialised message through the codec when there is one (a
 * compressed binary frame, or text), as ws.send otherwise. `cb` fires once
 * the frame is written.
 */
export function sendMessage(ws: WebSocket, wire: WireCodec | undefined, text: string, cb?: (err?: Error) => void): void {
  if (wire === undefined) {
    ws.send(text, cb);
    return;
  }
  const frame = wire.encode(text);
  const write = (f: { data: Buffer | string; binary: boolean }): void => {
    if (ws.readyState === WebSocket.OPEN) ws.send(f.data, { binary: f.binary }, cb);
    else cb?.(new Error('WebSocket is not open'));
  };
  if (frame instanceof Promise) frame.then(write, (err: Error) => cb?.(err));
  else write(frame);
}

/**
 * One inbound frame to its message text: through the codec when there is
 * one (in order, possibly later), as UTF-8 text otherwise. Binary frames
 * without a codec and codec failures go to `onError`.
 */
export function receiveMessage(
  wire: WireCodec | undefined,
  data: Buffer,
  isBinary: boolean,
  onText: (text: string) => void,
  onError: (err: Error) => void,
): void {
  if (wire === undefined) {
    if (isBinary) onError(new Error('Ignored a binary WebSocket frame: MCP messages are JSON text frames'));
    else onText(data.toString());
    return;
  }
  let text: string | Promise<string>;
  try {
    text = wire.receive(data, isBinary);
  } catch (err) {
    onError(err as Error);
    return;
  }
  if (typeof text === 'string') onText(text);
  else text.then(onText, onError);
}
