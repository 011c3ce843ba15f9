/**
 * The default upstream connector: the one place that knows every transport
 * an upstream can be reached by (WebSocket, Streamable HTTP, stdio child).
 */
import { HttpUpstreamConnection } from './upstream-http.js';
import { createStdioConnection } from './upstream-stdio.js';
import { WsUpstreamConnection } from './upstream-ws.js';
import type { UpstreamConnector } from './upstream.js';

/** Makes a connection for `spec` by its kind. */
export const defaultConnector: UpstreamConnector = (spec, logger) => {
  switch (spec.kind) {
    case 'ws':
      return new WsUpstreamConnection(spec, logger);
    case 'http':
      return new HttpUpstreamConnection(spec, logger);
    case 'stdio':
      return createStdioConnection(spec, logger);
  }
};
