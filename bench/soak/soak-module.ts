/**
 * The `--module` the soak serves: the demo router (echo, add, sleep) plus
 * two tools that throw, one with a JSON-RPC error and one with a plain Error,
 * so the soak can check a throwing tool answers its caller and nothing more.
 *
 * It imports the package by its own name, so the router class is the one the
 * `mcp-ws` command line loaded (a copy compiled elsewhere would not pass its
 * instanceof check).
 */
import { createDemoRouter, RpcError, type McpRouter } from 'mcp-ws';

export function router(): McpRouter {
  const r = createDemoRouter();
  r.tool(
    { name: 'boom', description: 'Throws a plain Error.', inputSchema: { type: 'object', properties: {} } },
    () => {
      throw new Error('boom: thrown by the soak tool');
    },
  );
  r.tool(
    { name: 'boom-rpc', description: 'Throws a JSON-RPC error.', inputSchema: { type: 'object', properties: {} } },
    () => {
      throw new RpcError(-32050, 'boom-rpc: thrown by the soak tool');
    },
  );
  return r;
}
