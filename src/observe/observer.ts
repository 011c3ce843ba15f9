/**
 * The observability routes on the server's port, each off unless enabled:
 *
 *   GET /debug/snapshot           the server's snapshot as JSON (`dashboard` or `debugSnapshot`)
 *   GET /dashboard                the live dashboard page (`dashboard`)
 *   GET /dashboard/events         Server-Sent Events: one shared snapshot a second
 *   GET /dashboard/app.js, /dashboard/uPlot.min.js, /dashboard/uPlot.min.css
 *                                 the page's script and the charting library, served
 *                                 from the installed package (no CDN)
 *
 * Every route passes the endpoint's own door first: header count, Origin,
 * Host, and, when auth is on, a verified credential (Authorization: Bearer;
 * never the query string). A refused request gets the endpoint's status
 * (400, 401 + WWW-Authenticate, 403, 503). Pages carry a strict
 * Content-Security-Policy: scripts from this origin only, no frames.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type { Rejection, Screened } from '../server/admission.js';
import type { VerifiedIdentity } from '../server/auth.js';
import { SnapshotHub } from './hub.js';
import { Snapshotter, type SnapshotHost } from './snapshot.js';
import { DASHBOARD_HTML, DASHBOARD_JS } from './dashboard-page.js';

/** The door checks the observability routes share with the endpoint. */
export interface ObserveDoor {
  screen(req: IncomingMessage, url: string, protocols: string | undefined): Rejection | Screened;
  verify(token: string | undefined): Promise<VerifiedIdentity | undefined>;
  authRejection(err: unknown, req?: IncomingMessage): Rejection;
}

/** What is turned on. */
export interface ObserveOptions {
  dashboard: boolean;
  debugSnapshot: boolean;
  maxViewers: number;
  /** Snapshot interval of the dashboard stream. Default 1000 ms. */
  intervalMs?: number;
}

const PAGE_HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

const require = createRequire(import.meta.url);
let uplotFiles: { js: Buffer; css: Buffer } | undefined;

/** uPlot's browser build and stylesheet, read once from the installed package. */
function uplot(): { js: Buffer; css: Buffer } {
  if (!uplotFiles) {
    const dir = require.resolve('uplot/package.json').replace(/package\.json$/, 'dist/');
    uplotFiles = { js: readFileSync(`${dir}uPlot.iife.min.js`), css: readFileSync(`${dir}uPlot.min.css`) };
  }
  return uplotFiles;
}

/** Serves the observability routes of one server. */
export class Observer {
  readonly hub: SnapshotHub;

  constructor(
    host: SnapshotHost,
    private readonly door: ObserveDoor,
    private readonly options: ObserveOptions,
    private readonly logger: Logger,
  ) {
    const snapshotter = new Snapshotter(host);
    this.hub = new SnapshotHub(() => snapshotter.take(), {
      maxViewers: options.maxViewers,
      ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
    });
  }

  /** True when `pathname` is one of the routes turned on. */
  handles(pathname: string): boolean {
    if (pathname === '/debug/snapshot') return this.options.debugSnapshot || this.options.dashboard;
    return this.options.dashboard && (pathname === '/dashboard' || pathname.startsWith('/dashboard/'));
  }

  /** Answers a GET or HEAD on a route {@link handles} accepted. */
  serve(req: IncomingMessage, res: ServerResponse, pathname: string): void {
    const url = req.url ?? '/';
    const screened = this.door.screen(req, url, undefined);
    if ('status' in screened) return this.reject(res, screened);
    this.door.verify(screened.token).then(
      () => {
        if (res.destroyed) return;
        this.route(req, res, pathname);
      },
      (err: unknown) => this.reject(res, this.door.authRejection(err, req)),
    ).catch((err: unknown) => {
      this.logger.error({ err }, 'observability route failed');
      if (!res.headersSent) plain(res, 500, 'internal error');
      else res.destroy();
    });
  }

  /** Ends the dashboard streams (server shutdown). */
  close(): void {
    this.hub.close();
  }

  private route(req: IncomingMessage, res: ServerResponse, pathname: string): void {
    const head = req.method === 'HEAD';
    switch (pathname) {
      case '/debug/snapshot':
        return send(res, 'application/json', this.hub.latest(), head, { 'Cache-Control': 'no-store' });
      case '/dashboard':
      case '/dashboard/':
        return send(res, 'text/html; charset=utf-8', DASHBOARD_HTML, head, PAGE_HEADERS);
      case '/dashboard/app.js':
        return send(res, 'text/javascript; charset=utf-8', DASHBOARD_JS, head, PAGE_HEADERS);
      case '/dashboard/uPlot.min.js':
        return send(res, 'text/javascript; charset=utf-8', uplot().js, head, PAGE_HEADERS);
      case '/dashboard/uPlot.min.css':
        return send(res, 'text/css; charset=utf-8', uplot().css, head, PAGE_HEADERS);
      case '/dashboard/events':
        if (head) return send(res, 'text/event-stream', '', true, {});
        if (!this.hub.add(res)) {
          plain(res, 503, `too many dashboard viewers (dashboardMaxViewers ${this.options.maxViewers})`, { 'Retry-After': '5' });
        }
        return;
      default:
        plain(res, 404, 'Not Found');
    }
  }

  private reject(res: ServerResponse, r: Rejection): void {
    if (res.headersSent) return;
    plain(res, r.status, r.message, r.headers);
  }
}

function send(res: ServerResponse, type: string, body: string | Buffer, head: boolean, headers: Record<string, string>): void {
  res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

function plain(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = `${message}\n`;
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}
