/**
 * Module resolve hook registered by node20-hook.mjs: `fs` and `node:fs`,
 * imported from a module of the conformance package, resolve to fs-glob.mjs
 * (the real `fs` plus a minimal `globSync`). Every other import resolves as
 * usual, so nothing outside the suite sees a different `fs`.
 */

const SHIM = new URL('./fs-glob.mjs', import.meta.url).href;
const SUITE = '/node_modules/@modelcontextprotocol/conformance/';

/**
 * True when `parentURL` is a file of the conformance package (any platform's separators).
 * @param {string | undefined} parentURL
 */
export function fromSuite(parentURL) {
  return typeof parentURL === 'string' && parentURL.replaceAll('\\', '/').includes(SUITE);
}

/**
 * @param {string} specifier
 * @param {{ parentURL?: string }} context
 * @param {(specifier: string, context: { parentURL?: string }) => Promise<{ url: string }>} nextResolve
 * @returns {Promise<{ url: string, shortCircuit?: boolean }>}
 */
export async function resolve(specifier, context, nextResolve) {
  if ((specifier === 'fs' || specifier === 'node:fs') && fromSuite(context.parentURL)) {
    return { url: SHIM, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
