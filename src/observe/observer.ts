/**
 * The observability routes on the server's port, each off unless enabled:
 *
 *   GET /debug/snapshot           the server's snapshot as JSON (`dashboard` or `debugSnapshot`)
 *   GET /dashboard                the live dashboard page (`dashboard`)
 *   GET /dashboard/events         Server-Sent Events: one shared snapshot a second
 *   GET /dashboard/app.js, /dashboard/uPlot.min.js, /dashboard/uPlot.min.css
 *                                 the page's script and the charting library, served
 *                                 from the installed package (no CDN)
 *   GET /debug/profile?seconds=N  a CPU profile of this process, N ≤ 60 (default 10),
 *                                 as a .cpuprofile (`debugProfile`); one at a time
 *   GET /debug/heapsnapshot       a heap snapshot of this process, streamed
 *                                 (`debugProfile`); pauses the process while V8 takes it
 *
 * Every route passes the endpoint's own door first: header count, Origin,
 * Host, and, when auth is on, a verified credential (Authorization: Bearer;
 * never the query string). A refused request gets the endpoint's status
 * (400, 401 + WWW-Authenticate, 403, 503). Pages carry a strict
 * Content-Security-Policy: scripts from this origin only, no frames.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type { Rejection, Screened } from '../server/admission.js';
import type { VerifiedIdentity } from '../server/auth.js';
import { SnapshotHub } from './hub.js';
import { Snapshotter, type SnapshotHost } from './snapshot.js';
import { DASHBOARD_HTML, DASHBOARD_JS } from './dashboard-page.js';
import { parseProfileSeconds, profileFileName, ProfilerBusyError, startHeapSnapshot, takeCpuProfile } from './profiler.js';

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
  /** /debug/profile and /debug/heapsnapshot. */
  debugProfile?: boolean;
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
    if (pathname === '/debug/profile' || pathname === '/debug/heapsnapshot') return this.options.debugProfile === true;
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
      case '/debug/profile':
        return this.profile(req, res, head);
      case '/debug/heapsnapshot':
        return this.heapSnapshot(res, head);
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

  /** A CPU profile of this process; the client going away stops it at once. */
  private profile(req: IncomingMessage, res: ServerResponse, head: boolean): void {
    // HEAD would start a profile nobody reads.
    if (head) return plain(res, 405, 'use GET to take a profile', { Allow: 'GET' });
    const q = (req.url ?? '').indexOf('?');
    const seconds = parseProfileSeconds(q === -1 ? null : new URLSearchParams((req.url ?? '').slice(q + 1)).get('seconds'));
    if (typeof seconds === 'string') return plain(res, 400, seconds);
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    res.once('close', onClose);
    this.logger.info({ seconds }, 'CPU profile started');
    takeCpuProfile(seconds, abort.signal).then(
      (profile) => {
        res.removeListener('close', onClose);
        if (abort.signal.aborted || res.destroyed) {
          this.logger.info('CPU profile abandoned: the client went away');
          return;
        }
        this.logger.info({ bytes: profile.length }, 'CPU profile sent');
        send(res, 'application/json', profile, false, {
          'Cache-Control': 'no-store',
          'Content-Disposition': `attachment; filename="${profileFileName('cpuprofile')}"`,
          'X-Profiled-Pid': String(process.pid),
        });
      },
      (err: unknown) => {
        res.removeListener('close', onClose);
        if (err instanceof ProfilerBusyError) return plain(res, 409, err.message, { 'Retry-After': String(Math.ceil(seconds)) });
        this.logger.error({ err }, 'CPU profile failed');
        if (!res.headersSent) plain(res, 500, 'CPU profile failed');
      },
    );
  }

  /** A heap snapshot of this process, streamed as V8 serialises it. */
  private heapSnapshot(res: ServerResponse, head: boolean): void {
    if (head) return plain(res, 405, 'use GET to take a heap snapshot', { Allow: 'GET' });
    let stream: ReturnType<typeof startHeapSnapshot>;
    try {
      this.logger.warn('heap snapshot started: the process pauses while V8 takes it');
      stream = startHeapSnapshot();
    } catch (err) {
      if (err instanceof ProfilerBusyError) return plain(res, 409, err.message, { 'Retry-After': '10' });
      this.logger.error({ err }, 'heap snapshot failed');
      return plain(res, 500, 'heap snapshot failed');
    }
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-store',
      'Content-Disposition': `attachment; filename="${profileFileName('heapsnapshot')}"`,
      'X-Profiled-Pid': String(process.pid),
    });
    pipeline(stream, res).then(
      () => this.logger.info('heap snapshot sent'),
      () => this.logger.info('heap snapshot abandoned: the client went away'),
    );
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
