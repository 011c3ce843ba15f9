/**
 * The parent side of a benchmark target: fork it (optionally under a raised
 * `ulimit -n`), wait for its URL, and query its CPU and memory over IPC.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TargetCommand, TargetReport } from '../targets/target-ipc.js';

/** Options of {@link TargetProcess.start}. */
export interface TargetProcessOptions {
  /** Node flags for the child, e.g. ['--expose-gc'] or ['--cpu-prof']. */
  execArgv?: string[];
  /** Extra environment. */
  env?: Record<string, string>;
  /** Raise the child's soft `ulimit -n` to this (up to the hard limit) before Node starts. */
  fdLimit?: number;
  /** Give up if the target is not ready within this long. Default 15 s. */
  readyTimeoutMs?: number;
}

export type MemorySample = Omit<Extract<TargetReport, { type: 'memory' }>, 'type' | 'seq'>;

/**
 * Starts a compiled script as a Node child with an IPC channel. With
 * `fdLimit`, a shell raises the soft `ulimit -n` first (Node cannot raise its
 * own), then becomes node: exec keeps the IPC descriptor.
 */
export function spawnNode(script: URL, options: Omit<TargetProcessOptions, 'readyTimeoutMs'> = {}): ChildProcess {
  const execArgv = options.execArgv ?? [];
  const env = { ...process.env, ...options.env };
  const path = fileURLToPath(script);
  const stdio: ['ignore', 'inherit', 'inherit', 'ipc'] = ['ignore', 'inherit', 'inherit', 'ipc'];
  if (options.fdLimit === undefined) return fork(path, [], { execArgv, env, stdio });
  const raise = `ulimit -n ${options.fdLimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"`;
  return spawn('/bin/sh', ['-c', raise, process.execPath, ...execArgv, path], { env, stdio });
}

/** A target server running in its own process. */
export class TargetProcess {
  private seq = 0;
  private readonly waiting = new Map<number, (m: TargetReport) => void>();
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.on('message', (m: TargetReport) => {
      if ((m.type === 'cpu' || m.type === 'memory' || m.type === 'stats') && this.waiting.has(m.seq)) {
        const resolve = this.waiting.get(m.seq)!;
        this.waiting.delete(m.seq);
        resolve(m);
      }
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Starts `script` (a compiled target under bench/targets/) and waits for its URL. */
  static start(name: string, script: URL, options: TargetProcessOptions = {}): Promise<TargetProcess> {
    const child = spawnNode(script, options);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`target ${name} was not ready within ${options.readyTimeoutMs ?? 15_000} ms`));
      }, options.readyTimeoutMs ?? 15_000);
      const onMessage = (m: TargetReport): void => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          child.removeListener('message', onMessage);
          child.removeListener('exit', onExit);
          resolve(new TargetProcess(name, child, m.url));
        } else if (m.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(`target ${name} failed to start: ${m.message}`));
        }
      };
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        reject(new Error(`target ${name} exited (${code}) before it was ready`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  private ask<T extends TargetReport>(command: TargetCommand & { seq: number }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(command.seq);
        reject(new Error(`target ${this.name} did not answer ${command.type} within 10 s`));
      }, 10_000);
      this.waiting.set(command.seq, (m) => {
        clearTimeout(timer);
        resolve(m as T);
      });
      this.child.send(command);
    });
  }

  /** The child's process.cpuUsage(), in µs. */
  async cpuUsage(): Promise<{ user: number; system: number }> {
    const m = await this.ask<Extract<TargetReport, { type: 'cpu' }>>({ type: 'cpu', seq: ++this.seq });
    return { user: m.user, system: m.system };
  }

  /** The child's memory, after a full GC when `gc` (the child needs --expose-gc). */
  async memory(gc: boolean): Promise<MemorySample> {
    const { type: _t, seq: _s, ...sample } = await this.ask<Extract<TargetReport, { type: 'memory' }>>({
      type: 'memory',
      seq: ++this.seq,
      gc,
    });
    return sample;
  }

  /** Counters the target exposes (empty when it exposes none). */
  async stats(): Promise<Record<string, number>> {
    const m = await this.ask<Extract<TargetReport, { type: 'stats' }>>({ type: 'stats', seq: ++this.seq });
    return m.stats;
  }

  /** Stops the child gracefully (so a --cpu-prof profile gets written); kills it after 10 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.send({ type: 'stop' } satisfies TargetCommand);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Measures a target's CPU over a window: call begin(), then end() → % of one core. */
export class CpuWindow {
  private u0 = { user: 0, system: 0 };
  private t0 = 0;
  percent = 0;

  constructor(private readonly target: TargetProcess) {}

  async begin(): Promise<void> {
    this.u0 = await this.target.cpuUsage();
    this.t0 = performance.now();
  }

  async end(): Promise<void> {
    const u1 = await this.target.cpuUsage();
    const wallMs = performance.now() - this.t0;
    const cpuMs = (u1.user - this.u0.user + u1.system - this.u0.system) / 1000;
    this.percent = Math.round((cpuMs / wallMs) * 1000) / 10;
  }
}
