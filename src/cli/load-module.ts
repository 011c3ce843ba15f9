/**
 * `--module PATH`: a user module that says what to serve. It may export, as
 * `default`, `router` or `createServer`:
 *   - an McpRouter (or a function of no arguments returning one, called once)
 *     under `router`;
 *   - an SdkHost;
 *   - a function (the `default` export or `createServer`): an SDK server
 *     factory, called once per connection with { sessionId, remoteAddress,
 *     identity } and returning an SDK McpServer or Server.
 */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { McpRouter } from '../router/router.js';
import { SdkHost, type SdkServerFactory } from '../sdk/sdk-host.js';
import type { HandlerSource } from '../server/server.js';

/** Loads `file` and returns what the server should serve. Throws one-line errors. */
export async function loadHandlerModule(file: string): Promise<{ handler: HandlerSource; kind: 'router' | 'sdk' }> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ERR_MODULE_NOT_FOUND' ? 'no such module' : e.message.split('\n')[0];
    throw new Error(`cannot load module ${file}: ${why}`);
  }
  const router = mod.router;
  if (router instanceof McpRouter) return { handler: router, kind: 'router' };
  if (typeof router === 'function') {
    const made = await (router as () => unknown)();
    if (made instanceof McpRouter) return { handler: made, kind: 'router' };
    throw new Error(`module ${file}: export "router" should be an McpRouter or a function returning one`);
  }
  const candidate = mod.default ?? mod.createServer;
  if (candidate instanceof McpRouter) return { handler: candidate, kind: 'router' };
  if (candidate instanceof SdkHost) return { handler: candidate, kind: 'sdk' };
  if (typeof candidate === 'function') return { handler: new SdkHost(candidate as SdkServerFactory), kind: 'sdk' };
  throw new Error(
    `module ${file} exports nothing to serve: export "router" (an McpRouter), or a default / "createServer" SDK server factory`,
  );
}
