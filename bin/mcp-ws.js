#!/usr/bin/env node
// The mcp-ws command. The TypeScript sources are compiled to dist/ by `npm ci` (prepare).
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist')) {
    process.stderr.write('mcp-ws: not built yet: run `npm run build` (npm ci does it for you)\n');
    process.exit(1);
  }
  throw err;
}
const code = await cli.main(process.argv);
if (code !== 0) {
  process.exitCode = code;
  // A cluster worker that failed must not be held open by its channel to the primary.
  if (process.connected) process.exit(code);
}
