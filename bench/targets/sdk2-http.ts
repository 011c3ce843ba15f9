/**
 * Target (d2): the v2 SDK's Streamable HTTP server in stateless mode, as the
 * SDK documents it: a new McpServer and NodeStreamableHTTPServerTransport
 * (`@modelcontextprotocol/node`) per POST (sessionIdGenerator undefined), JSON
 * responses (enableJsonResponse). Built like target (d), the v1 one: plain
 * node:http with the body parsed once, so the two SDK generations compare
 * on the same footing.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import { createSdk2EchoServer } from './sdk2-echo.js';
import { serveTarget } from './target-ipc.js';

const MAX_BODY = 4 * 1024 * 1024;

function reply(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.url !== '/mcp') return reply(res, 404, -32000, 'Not found');
  if (req.method !== 'POST') return reply(res, 405, -32000, 'Method not allowed.');
  let body: unknown;
  try {
    body = JSON.parse(await readBody(req));
  } catch {
    return reply(res, 400, -32700, 'Parse error');
  }
  const server = createSdk2EchoServer();
  const transport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
}

serveTarget(async () => {
  const http = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) reply(res, 500, -32603, 'Internal server error');
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
});
