import { McpRouter, McpWsServer } from 'mcp-ws';

// Stands in for your own data source.
async function lookUp(city: string, { signal }: { signal: AbortSignal }): Promise<string> {
  signal.throwIfAborted();
  return `sunny in ${city}`;
}

const router = new McpRouter({ name: 'weather', version: '1.0.0' });
router.tool(
  {
    name: 'forecast',
    description: 'Forecast for a city',
    inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    annotations: { readOnlyHint: true },
  },
  async ({ city }, ctx) => {
    ctx.progress(1, 2, 'looking up');          // sent only if the client asked for progress
    const text = await lookUp(String(city), { signal: ctx.signal }); // aborted on notifications/cancelled
    return text;                               // a string, a CallToolResult, or any JSON value
  },
);
router.resource({ uri: 'weather://stations', name: 'stations', mimeType: 'application/json' }, () => '[]');
router.prompt({ name: 'brief', arguments: [{ name: 'city', required: true }] }, ({ city }) => `Brief me on ${city}`);

const server = new McpWsServer({ handler: router, port: 0 });
const { url } = await server.listen();
console.log(`serving on ${url}`);
process.on('SIGTERM', () => void server.close()); // drains, then the process exits
