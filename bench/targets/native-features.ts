/**
 * Target (b) with one feature switched on, for the feature-cost and
 * handshake-rate suites: the same McpWsServer and demo router as native.ts,
 * defaults otherwise. The parent picks the variant with FEATURE:
 *
 *   rl-conn       rateLimit: TokenBucket per connection, 1e9/s, burst 1e9 (never reached)
 *   rl-id-global  rateLimit: TokenBucket per identity (the IP, anonymous) and global, 1e9/s, burst 1e9
 *   rl-hit        rateLimit: TokenBucket at LIMIT_SCOPE (global | connection), LIMIT_RATE/s,
 *                 burst LIMIT_BURST; rateLimitCloseAfter 0 so a refused session is never closed
 *   auth-token    auth: static bearer token BENCH_TOKEN
 *   auth-hs256    auth: JWT, HS256 secret BENCH_JWT_SECRET
 *   auth-es256    auth: JWT, ES256 public key BENCH_JWT_PUBLIC_KEY (PEM)
 *   resume-off    resumeGraceMs: 0 (the SEP-1288 resume wrapper is left out; it is on by default)
 *   dashboard     dashboard: true, and VIEWERS (default 1) SSE clients reading /dashboard/events
 *   tracing-noop  defaults, with @opentelemetry/api loaded and a tracer provider registered
 *                 whose spans record nothing (the API's non-recording span): the cost of
 *                 the request span path itself, without an exporter behind it
 *
 * Exposes the rate limiter's decision counters (allowed, denied) to the
 * parent through the `stats` query.
 */
import { McpWsServer } from '../../src/server/server.js';
import type { McpWsServerOptions } from '../../src/server/server-options.js';
import { createDemoRouter } from '../../src/demo/demo-router.js';
import { request, type ClientRequest } from 'node:http';
import { serveTarget } from './target-ipc.js';

const NEVER = 1e9;

function need(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`${name} is not set`);
  return v;
}

function variant(feature: string): Omit<McpWsServerOptions, 'handler'> {
  switch (feature) {
    case 'rl-conn':
      return { rateLimit: { strategy: 'TokenBucket', maxRequestsPerSecond: NEVER, maxBurst: NEVER, scope: 'connection' } };
    case 'rl-id-global':
      return {
        rateLimit: {
          identity: { strategy: 'TokenBucket', maxRequestsPerSecond: NEVER, maxBurst: NEVER },
          global: { strategy: 'TokenBucket', maxRequestsPerSecond: NEVER, maxBurst: NEVER },
        },
      };
    case 'rl-hit': {
      const rate = Number(need('LIMIT_RATE'));
      const burst = Number(process.env.LIMIT_BURST ?? Math.max(1, Math.round(rate / 50)));
      const scope = process.env.LIMIT_SCOPE === 'connection' ? 'connection' : 'global';
      return {
        rateLimit: { strategy: 'TokenBucket', maxRequestsPerSecond: rate, maxBurst: burst, scope },
        rateLimitCloseAfter: 0,
      };
    }
    case 'auth-token':
      return { auth: { tokens: [need('BENCH_TOKEN')] } };
    case 'auth-hs256':
      return { auth: { jwt: { secret: need('BENCH_JWT_SECRET'), algorithms: ['HS256'] } } };
    case 'auth-es256':
      return { auth: { jwt: { publicKey: need('BENCH_JWT_PUBLIC_KEY'), algorithms: ['ES256'] } } };
    case 'resume-off':
      return { resumeGraceMs: 0 };
    case 'dashboard':
      return { dashboard: true };
    case 'tracing-noop':
      return {};
    default:
      throw new Error(`unknown FEATURE ${JSON.stringify(feature)}`);
  }
}

/** A tracer provider whose spans record nothing: what an application's tracing costs the server before any exporter. */
async function registerNoopTracer(): Promise<void> {
  const { trace, INVALID_SPAN_CONTEXT } = await import('@opentelemetry/api');
  const tracer = {
    startSpan: () => trace.wrapSpanContext(INVALID_SPAN_CONTEXT),
    startActiveSpan: () => {
      throw new Error('not used by the server');
    },
  } as unknown as import('@opentelemetry/api').Tracer;
  trace.setGlobalTracerProvider({ getTracer: () => tracer });
}

serveTarget(async () => {
  if (process.env.FEATURE === 'tracing-noop') await registerNoopTracer();
  const server = new McpWsServer({ handler: createDemoRouter(), port: 0, ...variant(process.env.FEATURE ?? '') });
  const { url } = await server.listen();
  if (process.env.FEATURE === 'tracing-noop' && !server.tracingActive) throw new Error('tracing-noop: the server did not pick up the tracer provider');
  const viewers: ClientRequest[] = [];
  if (process.env.FEATURE === 'dashboard') {
    const events = url.replace(/^ws/, 'http').replace(/\/[^/]*$/, '/dashboard/events');
    for (let i = 0; i < Number(process.env.VIEWERS ?? 1); i++) {
      const req = request(events, (res) => res.resume());
      req.on('error', () => {});
      req.end();
      viewers.push(req);
    }
  }
  return {
    url,
    close: () => {
      for (const v of viewers) v.destroy();
      return server.close();
    },
    sessions: () => server.sessionCount,
    stats: (): Record<string, number> => {
      const c = server.rateLimiter?.counters;
      if (c === undefined) return {};
      let allowed = 0;
      let denied = 0;
      for (const v of c.allowed) allowed += v;
      for (const v of c.denied) denied += v;
      return { allowed, denied };
    },
  };
});
