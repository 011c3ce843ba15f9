/**
 * The process life of `serve` and `gateway`: SIGTERM / SIGINT run a graceful
 * shutdown and exit 0 (1 if it fails); a second signal exits at once with 1;
 * SIGHUP reloads TLS files when the server has them, and is ignored (one
 * log line) when it has none.
 */
import type { Logger } from 'pino';
import type { McpWsServer } from '../server/server.js';

/**
 * Installs the signal handlers. `shutdown` closes whatever the command runs
 * (server, then gateway, …). A cluster worker (`clusterWorker`) stops on
 * SIGTERM from its primary or when the primary is gone, and ignores SIGINT:
 * a terminal's Ctrl-C reaches the whole process group, and the primary
 * decides how its workers stop.
 */
export function exitOnSignals(logger: Logger, shutdown: () => Promise<void>, server?: McpWsServer, clusterWorker = false): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    shutdown().then(
      () => {
        logger.flush?.();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (clusterWorker) {
    process.on('SIGINT', () => {});
    process.on('disconnect', () => {
      if (!stopping) stop('primary gone');
    });
  } else process.on('SIGINT', () => stop('SIGINT'));
  if (server?.options.tls) {
    process.on('SIGHUP', () => {
      try {
        server.reloadTls();
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'TLS reload failed; keeping the old certificate');
      }
    });
  } else {
    // SIGHUP's default action ends the process; with nothing to reload, a reload signal must not stop the server.
    process.on('SIGHUP', () => logger.info({ signal: 'SIGHUP' }, 'SIGHUP ignored: no TLS certificate to reload'));
  }
}
