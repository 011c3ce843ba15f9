/**
 * The `mcp-ws` command line.
 *
 *   mcp-ws serve [options]            run a server (the demo router by default)
 *   mcp-ws call URL METHOD [JSON]     one request, result printed as JSON
 *
 * Every failure a user can cause (a bad flag, a bad config, a busy port, an
 * unreachable URL) prints one line on stderr and exits non-zero; stack
 * traces are for bugs only, and even then only with MCP_WS_DEBUG=1.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';

function int(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} should be an integer ≥ ${min}, got "${value}"`);
    return n;
  };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('mcp-ws')
    .description('Production WebSocket layer for the Model Context Protocol')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('serve')
    .description('Run an MCP WebSocket server (the demo router unless --module says otherwise)')
    .option('--host <host>', 'interface to bind (default 127.0.0.1)')
    .option('-p, --port <port>', 'TCP port, 0 picks a free one (default 8080)', int('--port'))
    .option('--path <path>', 'WebSocket endpoint path (default /ws)')
    .option('-c, --config <file>', 'JSON config file; flags override it')
    .option('-m, --module <file>', 'module exporting an McpRouter or an SDK server factory')
    .option('--max-payload <bytes>', 'largest message (default 4194304)', int('--max-payload', 1))
    .option('--max-connections <n>', 'open connections in total (default 100000)', int('--max-connections', 1))
    .option('--max-connections-per-ip <n>', 'open connections per IP, 0 = no limit (default 0)', int('--max-connections-per-ip'))
    .option('--heartbeat-interval-ms <ms>', 'ping idle sessions after this long, 0 = off (default 30000)', int('--heartbeat-interval-ms'))
    .option('--heartbeat-timeout-ms <ms>', 'terminate when the pong is this late (default 10000)', int('--heartbeat-timeout-ms', 1))
    .option('--drain-timeout-ms <ms>', 'on SIGTERM, time given to in-flight requests (default 10000)', int('--drain-timeout-ms'))
    .option('--log-level <level>', 'trace|debug|info|warn|error|fatal|silent (default info)')
    .action(async (opts: Record<string, unknown>) => {
      // Loaded on demand: `call` should not pay for the server's imports.
      const { runServe } = await import('./serve.js');
      await runServe(opts);
    });

  program
    .command('call')
    .description('Connect, initialize, send one request and print its result as JSON')
    .argument('<url>', 'ws:// or wss:// URL of the server')
    .argument('<method>', 'JSON-RPC method, e.g. tools/list or tools/call')
    .argument('[params]', 'params as a JSON object')
    .option('-H, --header <header>', 'extra header "Name: value" (repeatable)', collect)
    .option('--timeout-ms <ms>', 'give up after this long (default 10000)', int('--timeout-ms', 1), 10_000)
    .action(async (url: string, method: string, params: string | undefined, opts: Record<string, unknown>) => {
      const { runCall } = await import('./call.js');
      await runCall(url, method, params, opts);
    });

  return program;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its one-line message (or help / version).
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`mcp-ws: ${message.split('\n')[0]}\n`);
    if (process.env.MCP_WS_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
