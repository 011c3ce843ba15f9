/**
 * Logging: pino, JSON lines on stderr by default, readable lines when stderr
 * is a terminal. stdout is kept for what scripts read (the ready line, `call`
 * results).
 *
 * Credentials never reach a log line: request headers are not logged, and the
 * redact list below censors the usual places a token could sit if a caller
 * passes an object through.
 *
 * pino-pretty is loaded only when a readable log is made: a service logging
 * JSON never reads it. createLogger is synchronous, so it is required (it is
 * a CommonJS package) rather than imported.
 */
import { createRequire } from 'node:module';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type { PrettyOptions, PrettyStream } from 'pino-pretty';

export type { Logger };

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level. Default 'info'. */
  level?: LevelWithSilent;
  /** Human-readable output. Default: when stderr is a TTY. */
  pretty?: boolean;
  /** Destination stream. Default stderr. */
  destination?: NodeJS.WritableStream;
}

const REDACT = [
  'authorization',
  'token',
  'password',
  'secret',
  '*.authorization',
  '*.token',
  '*.password',
  '*.secret',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

type PrettyFactory = (options: PrettyOptions) => PrettyStream;

let prettyFactory: PrettyFactory | undefined;

/** pino-pretty's factory, loaded on first use. */
function loadPretty(): PrettyFactory {
  prettyFactory ??= createRequire(import.meta.url)('pino-pretty') as PrettyFactory;
  return prettyFactory;
}

/** Creates the process logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const usePretty = options.pretty ?? process.stderr.isTTY === true;
  const opts = { level, base: { name: 'mcp-ws' }, redact: { paths: REDACT, censor: '[redacted]' } };
  if (usePretty) {
    return pino(opts, loadPretty()({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname,name' }));
  }
  return pino(opts, (options.destination as pino.DestinationStream | undefined) ?? pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything: the library default, so embedding apps choose their own. */
export const silentLogger: Logger = pino({ level: 'silent' });
