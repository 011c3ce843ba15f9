/**
 * The child side of a benchmark target: start a server, tell the parent its
 * URL over IPC, answer CPU and memory queries, stop on request. Each target
 * runs in its own process so its CPU and memory are its own.
 *
 *   parent ──fork──► child: start()           child ──{ready, url}──► parent
 *   parent ──{cpu}──► child ──{cpu, user, system}──► parent
 *   parent ──{memory, gc}──► child ──{memory, rss, heapUsed, …}──► parent
 *   parent ──{stats}──► child ──{stats, stats: counters the target exposes}──► parent
 *   parent ──{stop}──► child: close(), exit 0 (a --cpu-prof profile is written then)
 */

/** A started server. */
export interface StartedTarget {
  url: string;
  close(): Promise<void>;
  /** Open sessions, when the server counts them. */
  sessions?(): number;
  /** Counters the benchmark reads over a window (e.g. rate-limit decisions). */
  stats?(): Record<string, number>;
}

/** Parent → child. */
export type TargetCommand =
  | { type: 'cpu'; seq: number }
  | { type: 'memory'; seq: number; gc: boolean }
  | { type: 'stats'; seq: number }
  | { type: 'stop' };

/** Child → parent. */
export type TargetReport =
  | { type: 'ready'; url: string; pid: number }
  | { type: 'cpu'; seq: number; user: number; system: number }
  | { type: 'memory'; seq: number; rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; sessions: number }
  | { type: 'stats'; seq: number; stats: Record<string, number> }
  | { type: 'failed'; message: string };

function send(m: TargetReport): void {
  process.send?.(m);
}

/** Runs `start` and serves the parent's queries until told to stop or the parent goes away. */
export function serveTarget(start: () => Promise<StartedTarget>): void {
  if (!process.send) {
    process.stderr.write('this is a benchmark target: it runs as a child of bench/e2e.js or bench/connections.js\n');
    process.exit(1);
  }
  start().then(
    (target) => {
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        const force = setTimeout(() => process.exit(0), 5000);
        void target.close().finally(() => {
          clearTimeout(force);
          process.exit(0);
        });
      };
      process.on('message', (m: TargetCommand) => {
        switch (m.type) {
          case 'cpu': {
            const u = process.cpuUsage();
            send({ type: 'cpu', seq: m.seq, user: u.user, system: u.system });
            break;
          }
          case 'memory': {
            if (m.gc) {
              const gc = (globalThis as { gc?: () => void }).gc;
              // Twice: the first pass can leave garbage the second frees (weak refs, finalizers).
              gc?.();
              gc?.();
            }
            const mem = process.memoryUsage();
            send({
              type: 'memory',
              seq: m.seq,
              rss: mem.rss,
              heapUsed: mem.heapUsed,
              heapTotal: mem.heapTotal,
              external: mem.external,
              arrayBuffers: mem.arrayBuffers,
              sessions: target.sessions?.() ?? -1,
            });
            break;
          }
          case 'stats':
            send({ type: 'stats', seq: m.seq, stats: target.stats?.() ?? {} });
            break;
          case 'stop':
            stop();
            break;
        }
      });
      process.on('disconnect', stop);
      process.on('SIGTERM', stop);
      send({ type: 'ready', url: target.url, pid: process.pid });
    },
    (err: unknown) => {
      send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    },
  );
}
