/** Target (a′), the tuned floor: a bare `ws` echo that corks its replies per tick as mcp-ws does (raw-ws-server.ts). */
import { startRawWs } from './raw-ws-server.js';
import { serveTarget } from './target-ipc.js';

serveTarget(() => startRawWs({ cork: true }));
