/**
 * A benchmark target that is not ours: a command (supergateway) started as a
 * child with no IPC, ready when its TCP port accepts a connection. Its CPU
 * is read from /proc for the whole process tree (proc-cpu.ts).
 *
 * Stopping is thorough, since such a program may put its own children in
 * process groups of their own: the tree is listed first, the root gets
 * SIGTERM, and after a grace period every process of that list still alive
 * (same pid, same start time) gets SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { processTree, signalProcesses, survivors, type ProcStat } from './proc-cpu.js';

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Options of {@link ExternalTarget.start}. */
export interface ExternalTargetOptions {
  /** Working directory. */
  cwd: string;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Give up when the port does not accept a connection within this long. Default 20 s. */
  readyTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace on stop. Default 6 s (supergateway waits up to 5 s for its child). */
  stopGraceMs?: number;
}

/** A started external server. */
export class ExternalTarget {
  private stderrTail = '';
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly url: string,
    private readonly grace: number,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /**
   * Runs `command args` and resolves once 127.0.0.1:`port` accepts a
   * connection; `url` is what clients use. Rejects (and kills what it
   * started) when the process exits first or the timeout passes.
   */
  static async start(name: string, command: string, args: string[], port: number, url: string, options: ExternalTargetOptions): Promise<ExternalTarget> {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      // stdin ignored: supergateway stops when a pipe on its stdin closes.
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const target = new ExternalTarget(name, child, url, options.stopGraceMs ?? 6000);
    child.stderr!.on('data', (chunk: Buffer) => {
      target.stderrTail = (target.stderrTail + chunk.toString()).slice(-2000);
    });
    let exitCode: number | null | undefined;
    child.once('exit', (code) => (exitCode = code));
    const deadline = performance.now() + (options.readyTimeoutMs ?? 20_000);
    for (let i = 0; performance.now() < deadline && i < 1000; i++) {
      if (exitCode !== undefined) break;
      if (await canConnect(port)) return target;
      await sleep(100);
    }
    await target.stop();
    const why = exitCode !== undefined ? `exited (${exitCode}) before it was ready` : 'was not ready in time';
    throw new Error(`target ${name} ${why}${target.stderrTail ? `: ${target.stderrTail.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
  }

  /** The last lines it wrote on stderr. */
  get stderr(): string {
    return this.stderrTail;
  }

  /** SIGTERM to the root, then SIGKILL to every process of its tree still alive after the grace period. */
  async stop(): Promise<void> {
    const tree: ProcStat[] = this.pid > 0 ? processTree(this.pid) : [];
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const until = performance.now() + this.grace;
    while (performance.now() < until && survivors(tree).length > 0) await sleep(50);
    signalProcesses(survivors(tree), 'SIGKILL');
    await Promise.race([this.exited, sleep(2000)]);
  }
}
