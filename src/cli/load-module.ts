/**
 * `--module PATH`: a user module that says what to serve. It may export, as
 * `default`, `router` or `createServer`:
 *   - an McpRouter (or a function of no arguments returning one, called once)
 *     under `router`;
 *   - an SdkHost;
 *   - a function (the `default` export or `createServer`): an SDK server
 *     factory, called once per connection with { sessionId, remoteAddress,
 *     identity } and returning an SDK McpServer or Server.
 *
 * Routers and hosts are recognised by shape (a `createHandler` method), not
 * by class: a module built against another copy of mcp-ws (its own
 * node_modules) has classes that are not ours, and must still be served.
 */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { SdkHost, type SdkServerFactory } from '../sdk/sdk-host.js';
import type { HandlerSource } from '../server/server-options.js';

type Kind = 'router' | 'sdk';

/** Something that makes session handlers: an McpRouter or an SdkHost, of any copy of mcp-ws. */
function isHandlerSource(value: unknown): value is Exclude<HandlerSource, (...args: never[]) => unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { createHandler?: unknown }).createHandler === 'function';
}

/** An SdkHost carries the SDK factory it calls per session; a router does not. */
function kindOf(source: object): Kind {
  return typeof (source as { factory?: unknown }).factory === 'function' ? 'sdk' : 'router';
}

/** Loads `file` and returns what the server should serve. Throws one-line errors. */
export async function loadHandlerModule(file: string): Promise<{ handler: HandlerSource; kind: Kind }> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ERR_MODULE_NOT_FOUND' ? 'no such module' : e.message.split('\n')[0];
    throw new Error(`cannot load module ${file}: ${why}`);
  }
  const router = mod.router;
  if (isHandlerSource(router)) return { handler: router, kind: kindOf(router) };
  if (typeof router === 'function') {
    const made = await (router as () => unknown)();
    if (isHandlerSource(made)) return { handler: made, kind: kindOf(made) };
    throw new Error(`module ${file}: export "router" should be an McpRouter or a function returning one`);
  }
  if (router !== undefined) throw new Error(`module ${file}: export "router" should be an McpRouter or a function returning one`);
  const candidate = mod.default ?? mod.createServer;
  if (isHandlerSource(candidate)) return { handler: candidate, kind: kindOf(candidate) };
  if (typeof candidate === 'function') return { handler: new SdkHost(candidate as SdkServerFactory), kind: 'sdk' };
  throw new Error(
    `module ${file} exports nothing to serve: export "router" (an McpRouter), or a default / "createServer" SDK server factory`,
  );
}
