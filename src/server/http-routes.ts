/**
 * The plain HTTP routes served on the WebSocket port, for requests that are
 * not upgrades:
 *
 *   <paths>   Streamable HTTP (http-transport.ts)
 *   /healthz  200 while the process serves
 *   /readyz   200 with the session count; 503 once draining, so a load
 *             balancer stops routing here (in a cluster: once the cluster
 *             drains, and the body says how many workers are up)
 *   /metrics  Prometheus text (in a cluster: every worker's, merged);
 *             concurrent scrapes share one collection, and beyond
 *             METRICS_MAX_SHARING of them the route answers 503 + Retry-After
 *   /dashboard, /debug/snapshot   when turned on (src/observe/observer.ts)
 *   /.well-known/oauth-protected-resource[/<path>]   RFC 9728 metadata, when
 *             auth is on (resource-metadata.ts); 404 otherwise
 *   other     405 for methods other than GET/HEAD, else 404
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { ServerMetrics } from '../metrics/metrics.js';
import type { ClusterMember } from '../cluster/member.js';
import type { Observer } from '../observe/observer.js';
import { ScrapeGate } from '../metrics/scrape-gate.js';

/** Concurrent /metrics requests that may share one collection; more get 503 + Retry-After: 1. */
export const METRICS_MAX_SHARING = 32;

/** Each server's gate, kept beside it rather than in it: the routes own the policy. */
const gates = new WeakMap<HttpRoutesHost, ScrapeGate<string>>();
import type { Authenticator } from './auth.js';
import { ResourceMetadata, type RequestPlace } from './resource-metadata.js';

/** What the routes read from their server. */
export interface HttpRoutesHost {
  readonly options: { readonly paths: readonly string[] };
  /** Serves Streamable HTTP on an endpoint path. */
  serveEndpoint(req: IncomingMessage, res: ServerResponse): void;
  readonly metrics: ServerMetrics;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly draining: boolean;
  readonly sessionCount: number;
  /** Set in a cluster worker: /metrics and /readyz speak for every worker. */
  readonly cluster: ClusterMember | undefined;
  /** The dashboard and /debug/snapshot, when either is on. */
  readonly observer?: Observer | undefined;
  /** Verifies credentials when auth is on; its resource metadata is published then. */
  readonly auth?: Authenticator | undefined;
  /** Host checks and the request's place, for the resource metadata. */
  readonly door?: { hostAllowed(host: string | undefined): boolean; place(req: IncomingMessage): RequestPlace };
}

/** Answers one non-upgrade request. */
export function serveHttp(host: HttpRoutesHost, req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const pathname = q === -1 ? url : url.slice(0, q);
  if (host.options.paths.includes(pathname)) {
    host.serveEndpoint(req, res);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'Content-Type': 'text/plain', Allow: 'GET, HEAD' });
    res.end('Method Not Allowed\n');
    return;
  }
  if (host.auth !== undefined && host.door !== undefined && ResourceMetadata.handles(pathname)) {
    const door = host.door;
    if (!door.hostAllowed(req.headers.host)) {
      res.writeHead(403, { 'Content-Type': 'text/plain' });
      res.end('Forbidden\n');
      return;
    }
    const doc = host.auth.resourceMetadata.documentFor(pathname, door.place(req));
    if (doc !== undefined) {
      const text = JSON.stringify(doc);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=300', 'Access-Control-Allow-Origin': '*' });
      res.end(req.method === 'HEAD' ? undefined : text);
      return;
    }
  }
  if (host.observer?.handles(pathname)) {
    host.observer.serve(req, res, pathname);
    return;
  }
  switch (pathname) {
    case '/healthz':
      sendJson(res, 200, { status: 'ok' });
      return;
    case '/readyz': {
      const c = host.cluster?.state;
      const workers = c === undefined ? undefined : { up: c.up, total: c.total };
      if (host.draining || c?.draining === true) sendJson(res, 503, { status: 'draining', workers });
      else sendJson(res, 200, { status: 'ready', sessions: host.sessionCount, workers });
      return;
    }
    case '/metrics': {
      let gate = gates.get(host);
      if (gate === undefined) gates.set(host, (gate = new ScrapeGate<string>(METRICS_MAX_SHARING)));
      const local = (): Promise<string> => host.registry.metrics();
      const cluster = host.cluster;
      const text = gate.run(cluster ? () => cluster.scrape(local) : local);
      if (text === undefined) {
        res.writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '1', 'Cache-Control': 'no-store' });
        res.end('too many concurrent scrapes; retry\n');
        return;
      }
      text.then(
        (text) => {
          res.writeHead(200, { 'Content-Type': host.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          host.logger.error({ err }, 'metrics scrape failed');
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end('metrics unavailable\n');
        },
      );
      return;
    }
    default:
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('Not Found\n');
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(text);
}
