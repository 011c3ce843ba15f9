/**
 * `--cpu-prof-signal SIGNAL`: a CPU profile of this process on a signal,
 * written to `--cpu-prof-dir` (default: the working directory) as
 * `mcp-ws-<pid>-<time>.cpuprofile`, for `--cpu-prof-seconds` (default 10).
 *
 * Only signals whose default action is to be ignored are accepted, so a
 * signal sent to a process started without the flag (or to the cluster's
 * primary, which serves nothing) changes nothing:
 *   SIGURG    recommended (nothing else in Node or a terminal sends it)
 *   SIGWINCH  also sent by a terminal when it is resized: each resize of the
 *             terminal a foreground server runs in would take a profile
 * Refused: SIGUSR1 (Node starts its inspector on it), SIGUSR2 (the
 * cluster's rolling restart), and every other signal.
 */
import { accessSync, constants, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../config/schema.js';
import { MAX_PROFILE_SECONDS, cpuProfileRunning, profileFileName, takeCpuProfile } from '../observe/profiler.js';

export const PROFILE_SIGNALS = ['SIGURG', 'SIGWINCH'] as const;

/** The checked settings of the profile signal. */
export interface ProfileSignal {
  signal: (typeof PROFILE_SIGNALS)[number];
  dir: string;
  seconds: number;
}

/** Reads and checks the flags; undefined when no signal is asked for. Throws ConfigError with one line. */
export function resolveProfileSignal(opts: Record<string, unknown>): ProfileSignal | undefined {
  const raw = typeof opts.cpuProfSignal === 'string' ? opts.cpuProfSignal : undefined;
  if (raw === undefined) {
    if (opts.cpuProfDir !== undefined || opts.cpuProfSeconds !== undefined) throw new ConfigError('--cpu-prof-dir and --cpu-prof-seconds need --cpu-prof-signal');
    return undefined;
  }
  const name = raw.toUpperCase().replace(/^(?!SIG)/, 'SIG');
  if (name === 'SIGUSR1') throw new ConfigError('--cpu-prof-signal cannot be SIGUSR1: Node.js starts its inspector on it; use SIGURG');
  if (name === 'SIGUSR2') throw new ConfigError('--cpu-prof-signal cannot be SIGUSR2: it is the cluster\'s rolling restart; use SIGURG');
  if (!(PROFILE_SIGNALS as readonly string[]).includes(name)) {
    throw new ConfigError(`--cpu-prof-signal should be one of ${PROFILE_SIGNALS.join(', ')} (signals ignored by default), got "${raw}"`);
  }
  const seconds = opts.cpuProfSeconds === undefined ? 10 : Number(opts.cpuProfSeconds);
  if (!(seconds > 0) || seconds > MAX_PROFILE_SECONDS) throw new ConfigError(`--cpu-prof-seconds should be a number from 1 to ${MAX_PROFILE_SECONDS}, got "${String(opts.cpuProfSeconds)}"`);
  const dir = resolve(typeof opts.cpuProfDir === 'string' ? opts.cpuProfDir : '.');
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new ConfigError(`--cpu-prof-dir ${dir} is not a writable directory`);
  }
  return { signal: name as ProfileSignal['signal'], dir, seconds };
}

/** Takes a profile on each signal; a signal while one runs is ignored (one log line). */
export function installProfileSignal(p: ProfileSignal, logger: Logger): void {
  process.on(p.signal, () => {
    if (cpuProfileRunning()) {
      logger.warn({ signal: p.signal }, 'CPU profile already running; signal ignored');
      return;
    }
    const file = join(p.dir, profileFileName('cpuprofile'));
    logger.info({ signal: p.signal, seconds: p.seconds, file }, 'CPU profile started');
    takeCpuProfile(p.seconds).then(
      (profile) => {
        // Written whole under a temporary name, then renamed: a reader never sees half a file.
        writeFileSync(`${file}.partial`, profile);
        renameSync(`${file}.partial`, file);
        logger.info({ file, bytes: profile.length }, 'CPU profile written');
      },
      (err: unknown) => logger.error({ err: (err as Error).message }, 'CPU profile failed'),
    ).catch((err: unknown) => logger.error({ err: (err as Error).message, file }, 'CPU profile could not be written'));
  });
}
