/**
 * Realistic MCP messages for the codec tests, built from real text in the
 * repository and its node_modules (never repeated bytes): a tools/list
 * result, a resources/read of a README, a tools/call returning source code,
 * and a large tools/call result.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(root + path, 'utf8');

/** Exactly `size` bytes of a JSON-RPC response around real text, sliced to fit. */
function response(id: number, size: number, wrap: (text: string) => unknown, source: string): string {
  const empty = JSON.stringify({ jsonrpc: '2.0', id, result: wrap('') });
  let text = source.slice(0, Math.max(0, size - empty.length));
  let msg = JSON.stringify({ jsonrpc: '2.0', id, result: wrap(text) });
  // Escapes make JSON longer than the text: trim until it fits.
  while (Buffer.byteLength(msg) > size && text.length > 0) {
    text = text.slice(0, text.length - Math.max(1, Math.ceil((Buffer.byteLength(msg) - size) / 2)));
    msg = JSON.stringify({ jsonrpc: '2.0', id, result: wrap(text) });
  }
  return msg;
}

const toolResult = (text: string): unknown => ({ content: [{ type: 'text', text }], isError: false });

/** A tools/list result: one tool per exported function declaration with its JSDoc, from .d.ts files. */
function toolsList(id: number, size: number): string {
  const files = ['node_modules/ws/index.js', 'node_modules/@types/node/zlib.d.ts', 'node_modules/@types/node/fs.d.ts'];
  const tools: unknown[] = [];
  const re = /\/\*\*([\s\S]*?)\*\/\s*(?:export\s+)?function\s+(\w+)\s*(?:<[^>]*>)?\(([^)]*)\)/g;
  for (const f of files) {
    for (const m of read(f).matchAll(re)) {
      const description = m[1]!.replace(/^\s*\*\s?/gm, '').trim();
      const params = m[3]!.split(',').map((p) => p.trim().split(/[?:\s]/)[0]!).filter((p) => /^\w+$/.test(p));
      tools.push({
        name: m[2],
        description,
        inputSchema: {
          type: 'object',
          properties: Object.fromEntries(params.map((p) => [p, { type: 'string', description: `The ${p} argument.` }])),
          required: params.slice(0, 1),
        },
      });
      const msg = JSON.stringify({ jsonrpc: '2.0', id, result: { tools } });
      if (Buffer.byteLength(msg) >= size) return msg;
    }
  }
  return JSON.stringify({ jsonrpc: '2.0', id, result: { tools } });
}

/** Named messages of the sizes the contract suite round-trips. */
export function contractMessages(): Array<[string, Buffer]> {
  const readme = read('README.md');
  const dom = read('node_modules/typescript/lib/lib.dom.d.ts');
  return [
    ['empty', Buffer.alloc(0)],
    ['1 byte', Buffer.from('{')],
    ['200 B ping reply', Buffer.from(response(1, 200, (t) => ({ content: [{ type: 'text', text: t }] }), readme))],
    ['20 KB resources/read', Buffer.from(response(2, 20_000, (t) => ({ contents: [{ uri: 'file:///README.md', mimeType: 'text/markdown', text: t }] }), readme + read('docs/PROTOCOL.md') + read('node_modules/ws/README.md')))],
    ['20 KB tools/list', Buffer.from(toolsList(3, 20_000))],
    ['1 MB tools/call', Buffer.from(response(4, 1_000_000, toolResult, dom))],
  ];
}

/** A ~10 KB tools/call result of source code, for the wire tests. */
export function sourceMessage(id = 7, size = 10_000): string {
  return response(id, size, toolResult, read('node_modules/ws/lib/websocket.js'));
}
