/**
 * `--workers N|auto` for the `serve` and `gateway` commands: one function
 * that decides this process's part. Without workers (or N = 1) the command
 * runs as it always did. With N > 1 the first process becomes the primary
 * (primary.ts: it forks N copies of the same command line and never loads
 * the handler module), and each copy, a cluster worker, runs the command
 * with a {@link WorkerMember} and reports its ready line to the primary
 * instead of printing it.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { WorkerMember, type Channel } from './member.js';
import { ClusterPrimary, resolveWorkerCount } from './primary.js';

/** What a command does in this process. */
export type ClusterPart = { role: 'single' } | { role: 'worker'; member: WorkerMember };

/**
 * Runs the primary and exits when `workers` asks for more than one process
 * and this is the first; otherwise says whether this process is a worker.
 */
export async function takeClusterPart(workers: number | 'auto' | undefined, logger: Logger): Promise<ClusterPart> {
  const n = resolveWorkerCount(workers, availableParallelism());
  if (cluster.isWorker) return { role: 'worker', member: new WorkerMember(cluster.worker!.id, process as unknown as Channel, logger) };
  if (n <= 1) return { role: 'single' };
  const primary = new ClusterPrimary({
    workers: n,
    logger,
    onReady: (line, count) => process.stdout.write(`${line} (${count} workers)\n`),
  });
  const code = await primary.run();
  logger.flush?.();
  process.exit(code);
}

/** Prints the ready line, or hands it to the primary in a worker. */
export function announceReady(part: ClusterPart, url: string, line: string): void {
  if (part.role === 'worker') part.member.ready(url, line);
  else process.stdout.write(`${line}\n`);
}
