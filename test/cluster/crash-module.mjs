// A handler module for the cluster tests: the demo router, in a worker that
// exits with code 3 whenever the file named by MCP_WS_TEST_CRASH_FILE exists
// (checked at start and every 50 ms), so a test can start a crash loop and end it.
import { existsSync } from 'node:fs';
import { createDemoRouter } from '../../dist/demo/demo-router.js';

const file = process.env.MCP_WS_TEST_CRASH_FILE;
const check = () => {
  if (file && existsSync(file)) process.exit(3);
};
check();
setInterval(check, 50).unref();

export default createDemoRouter();
