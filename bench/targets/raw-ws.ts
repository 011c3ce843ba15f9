/** Target (a), the naive floor: a bare `ws` echo (raw-ws-server.ts). */
import { startRawWs } from './raw-ws-server.js';
import { serveTarget } from './target-ipc.js';

serveTarget(() => startRawWs({ cork: false }));
