/**
 * The dashboard stream under hostile viewers, over real sockets: the viewer
 * cap (503 past it, a slot freed when a viewer leaves), one snapshot per
 * interval whatever the number of viewers, and a viewer that never reads
 * cut off at a bounded backlog instead of growing a queue.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { closeAll, startServer, waitFor } from '../helpers.js';
import { SnapshotHub } from '../../src/observe/hub.js';

afterAll(closeAll);

const open: Array<{ destroy(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.destroy();
});

/** Opens an SSE stream; resolves with the response once the first event arrived (or the status if refused). */
function viewer(base: string): Promise<{ status: number; res: IncomingMessage; events: () => number }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/dashboard/events`, (res) => {
      open.push(req);
      let events = 0;
      let resolved = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        events += chunk.split('\n\n').length - 1;
        if (!resolved) {
          resolved = true;
          resolve({ status: res.statusCode!, res, events: () => events });
        }
      });
      if (res.statusCode !== 200) {
        resolved = true;
        resolve({ status: res.statusCode!, res, events: () => events });
      }
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dashboard viewers', () => {
  it('past dashboardMaxViewers a viewer gets 503 + Retry-After; a leaving viewer frees its place', async () => {
    const { base, server } = await startServer({ dashboard: true, dashboardMaxViewers: 3 });
    const vs = await Promise.all([viewer(base), viewer(base), viewer(base)]);
    for (const v of vs) expect(v.status).toBe(200);
    const fourth = await viewer(base);
    expect(fourth.status).toBe(503);
    expect(fourth.res.headers['retry-after']).toBe('5');
    vs[0]!.res.destroy();
    await waitFor(() => server.observer!.hub.viewerCount === 2, 10_000, 'the viewer to leave');
    expect((await viewer(base)).status).toBe(200);
  });

  it('fifty viewers share one snapshot a second; with no viewer left the timer stops', async () => {
    const { base, server } = await startServer({ dashboard: true });
    const hub = server.observer!.hub;
    const vs = await Promise.all(Array.from({ length: 50 }, () => viewer(base)));
    const t0 = Date.now();
    const ticks0 = hub.ticks;
    await waitFor(() => vs.every((v) => v.events() >= 3), 20_000, 'three events at every viewer');
    const seconds = (Date.now() - t0) / 1000;
    // One snapshot per interval for all of them (+2 for interval edges), never one per viewer.
    expect(hub.ticks - ticks0).toBeLessThanOrEqual(Math.ceil(seconds) + 2);
    expect(hub.ticks - ticks0).toBeLessThan(50);
    for (const v of vs) v.res.destroy();
    await waitFor(() => hub.viewerCount === 0, 10_000, 'viewers gone');
    const stopped = hub.ticks;
    await new Promise((r) => setTimeout(r, 1500));
    expect(hub.ticks).toBe(stopped);
  }, 40_000);

  it('server close ends every stream', async () => {
    const { base, server } = await startServer({ dashboard: true });
    const v = await viewer(base);
    const ended = new Promise<void>((resolve) => v.res.on('close', () => resolve()));
    await server.close();
    await ended;
    expect(server.observer!.hub.viewerCount).toBe(0);
  });
});

describe('a viewer that never reads', () => {
  let http: Server | undefined;
  afterAll(() => http?.close());

  it('is cut off once its backlog passes the bound instead of queueing snapshots for it', async () => {
    const big = { pad: 'x'.repeat(64 * 1024) };
    const hub = new SnapshotHub(() => big, { maxViewers: 4, intervalMs: 5, maxBacklogBytes: 256 * 1024 });
    http = createServer((req, res) => {
      if (!hub.add(res)) res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
    const port = (http.address() as { port: number }).port;
    // A raw socket that sends its request and then never reads a byte.
    const sock: Socket = connect(port, '127.0.0.1');
    open.push(sock);
    await new Promise<void>((resolve) => sock.once('connect', resolve));
    sock.write('GET /dashboard/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    sock.pause();
    await waitFor(() => hub.viewerCount === 1, 5_000, 'the viewer to join');
    // 64 KiB every 5 ms fills the loopback socket buffers within seconds; then the bound applies.
    await waitFor(() => hub.dropped === 1, 30_000, 'the stalled viewer to be cut off');
    expect(hub.viewerCount).toBe(0);
    hub.close();
  }, 40_000);
});
