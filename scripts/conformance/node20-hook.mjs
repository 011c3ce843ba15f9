/**
 * `node --import ./scripts/conformance/node20-hook.mjs …`: lets the official
 * MCP conformance suite run on Node 20.
 *
 * The suite imports `globSync` from `fs`, which Node has only from 22 on, so
 * on Node 20 it dies at import time. When this Node's `fs` has no `globSync`,
 * this registers a resolve hook (node20-loader.mjs) that hands the suite's
 * own modules, and only those, an `fs` with a small `globSync` beside
 * everything the real one exports (fs-glob.mjs). On Node 22 and later it does
 * nothing.
 */
import fs from 'node:fs';
import { register } from 'node:module';

if (typeof fs.globSync !== 'function') register('./node20-loader.mjs', import.meta.url);
