/**
 * The `mcp-ws` command line.
 *
 *   mcp-ws serve [options]            run a server (the demo router by default)
 *   mcp-ws doctor [--connections N]   can this machine hold N sessions? what to fix
 *   mcp-ws call URL METHOD [JSON]     one request, result printed as JSON
 *   mcp-ws top URL                    a live view of a running server (/debug/snapshot)
 *   mcp-ws bench URL [options]        MCP-aware load test (latency percentiles, req/s)
 *
 * Every failure a user can cause (a bad flag, a bad config, a busy port, an
 * unreachable URL) prints one line on stderr and exits non-zero; stack
 * traces are for bugs only, and even then only with MCP_WS_DEBUG=1.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';

/** `--workers N|auto`: a positive integer or "auto" (one per core). */
function workersArg(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError(`--workers should be a whole number from 1 to 256 or "auto", got "${value}"`);
  return n;
}

/** Largest integer a flag takes: limits reach ws as 32-bit integers, milliseconds reach timers. */
const MAX_INT = 2 ** 31 - 1;

function int(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} should be an integer ≥ ${min}, got "${value}"`);
    if (n > MAX_INT) throw new InvalidArgumentError(`${name} should be at most ${MAX_INT}, got "${value}"`);
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
    .option('--allowed-origin <origin>', 'browser origin allowed to connect (repeatable; "*" = any; default loopback only)', collect)
    .option('--allowed-host <host>', 'Host header allowed (repeatable; default loopback names when bound to loopback)', collect)
    .option('--trusted-proxy <addr>', 'reverse proxy (address or CIDR) whose X-Forwarded-For names the client (repeatable)', collect)
    .option('--auth-token <token>', 'static bearer token (repeatable; visible in ps: prefer --auth-token-file or $MCP_WS_AUTH_TOKENS)', collect)
    .option('--auth-token-file <file>', 'file of bearer tokens, one per line')
    .option('--jwt-secret-env <name>', 'environment variable holding the HS256/384/512 secret')
    .option('--jwt-public-key <file>', 'PEM public key for RS/PS/ES/EdDSA JWTs')
    .option('--jwt-jwks-url <url>', 'JWKS URL for JWT keys (cached, follows rotation)')
    .option('--jwt-issuer <iss>', 'required JWT issuer')
    .option('--jwt-audience <aud>', 'required JWT audience')
    .option('--tls-cert <file>', 'PEM certificate: serve wss:// (SIGHUP reloads it)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--tls-ca <file>', 'CA bundle: require client certificates signed by it')
    .option('--workers <n|auto>', 'processes sharing the port (node:cluster), "auto" = one per core (default 1)', workersArg)
    .option('--dashboard', 'serve the live dashboard at /dashboard and the snapshot at /debug/snapshot (behind auth when auth is on)')
    .option('--debug-profile', 'serve GET /debug/profile?seconds=N (CPU profile) and /debug/heapsnapshot (behind auth when auth is on)')
    .option('--cpu-prof-signal <signal>', 'take a CPU profile on this signal: SIGURG (recommended) or SIGWINCH')
    .option('--cpu-prof-dir <dir>', 'where --cpu-prof-signal writes its .cpuprofile files (default: the working directory)')
    .option('--cpu-prof-seconds <s>', 'length of a --cpu-prof-signal profile, 1 to 60 (default 10)', int('--cpu-prof-seconds', 1))
    .option('--redis <url>', 'Redis backplane (redis:// or rediss://): notifications reach sessions of every server sharing it; rate limits with a redis section use it too')
    .option('--resume-redis <url>', 'keep resumable session state in this Redis so another node or worker can resume a session (redis:// URL)')
    .option('--llm <provider>', 'add the llm_generate tool: openai | openai-responses | anthropic | openai-compatible (key from OPENAI_API_KEY / ANTHROPIC_API_KEY)')
    .option('--llm-model <model>', 'default model of llm_generate')
    .option('--llm-base-url <url>', 'API base URL of the LLM provider (e.g. http://127.0.0.1:11434/v1)')
    .action(async (opts: Record<string, unknown>) => {
      // Loaded on demand: `call` should not pay for the server's imports.
      const { runServe } = await import('./serve.js');
      await runServe(opts);
    });

  program
    .command('gateway')
    .description('Serve MCP clients over WebSocket from a pool of upstream MCP servers (ws://, http:// or stdio commands)')
    .option('-u, --upstream <upstream>', 'ws:// or http(s):// URL, or a stdio command line in quotes (repeatable)', collect)
    .option('--server <name=upstream>', 'federation: a named server (ws:// or http(s):// URL, or a command line), its tools prefixed name_ (repeatable)', collect)
    .option('--host <host>', 'interface to bind (default 127.0.0.1)')
    .option('-p, --port <port>', 'TCP port, 0 picks a free one (default 8080)', int('--port'))
    .option('--path <path>', 'WebSocket endpoint path (default /ws)')
    .option('-c, --config <file>', 'JSON config file (serve settings + a "gateway" section); flags override it')
    .option('--preset <name>', 'pool preset from the seed: high-throughput | high-availability')
    .option('--strategy <name>', 'RoundRobin | LeastConnections | Random | WeightedRoundRobin | PowerOfTwoChoices')
    .option('--min-connections <n>', 'upstream sessions opened at start and kept (default 1)', int('--min-connections'))
    .option('--max-connections <n>', 'upper bound on upstream sessions (default 100)', int('--max-connections', 1))
    .option('--health-check-interval-ms <ms>', 'MCP ping of silent upstream sessions, 0 = off (default 10000)', int('--health-check-interval-ms'))
    .option('--request-timeout-ms <ms>', 'upstream answer timeout per request (default 60000)', int('--request-timeout-ms', 1))
    .option('--on-upstream-lost <policy>', 'close (4003, default) | reestablish')
    .option('--sharing <mode>', 'per-client (an upstream session per client, default) | shared (clients multiplexed over a few upstream sessions: stateless servers only)')
    .option('--log-level <level>', 'trace|debug|info|warn|error|fatal|silent (default info)')
    .option('--workers <n|auto>', 'processes sharing the port (node:cluster), each with its own pool, "auto" = one per core (default 1)', workersArg)
    .option('--dashboard', 'serve the live dashboard (upstreams and breakers included) at /dashboard and the snapshot at /debug/snapshot')
    .option('--debug-profile', 'serve GET /debug/profile?seconds=N (CPU profile) and /debug/heapsnapshot (behind auth when auth is on)')
    .option('--cpu-prof-signal <signal>', 'take a CPU profile on this signal: SIGURG (recommended) or SIGWINCH')
    .option('--cpu-prof-dir <dir>', 'where --cpu-prof-signal writes its .cpuprofile files (default: the working directory)')
    .option('--cpu-prof-seconds <s>', 'length of a --cpu-prof-signal profile, 1 to 60 (default 10)', int('--cpu-prof-seconds', 1))
    .option('--redis <url>', 'Redis backplane (redis:// or rediss://): sendToSession reaches clients of every gateway sharing it')
    .action(async (opts: Record<string, unknown>) => {
      const { runGateway } = await import('./gateway.js');
      await runGateway(opts);
    });

  program
    .command('doctor')
    .description('Check this machine for N concurrent sessions: descriptor limits, accept queue, memory, the seed\'s TCP tuning; prints the fix for what is short (exit 1)')
    .option('--connections <n>', 'concurrent sessions to plan for (default 10000)', int('--connections', 1))
    .option('--workers <n|auto>', 'server processes the sessions are spread over (default auto: one per core)', workersArg)
    .option('--backlog <n>', 'the server\'s listen backlog (default 1024)', int('--backlog', 1))
    .option('--json', 'print readings and checks as JSON')
    .action(async (opts: Record<string, unknown>) => {
      const { runDoctor } = await import('./doctor.js');
      const code = runDoctor(opts as { connections?: number; workers?: number | 'auto'; backlog?: number; json?: boolean });
      if (code !== 0) process.exitCode = code;
    });

  program
    .command('call')
    .description('Connect, initialize (or, with --protocol-version 2026-07-28, not), send one request and print its result as JSON')
    .argument('<url>', 'ws:// or wss:// URL of the server')
    .argument('<method>', 'JSON-RPC method, e.g. tools/list or tools/call')
    .argument('[params]', 'params as a JSON object')
    .option('-H, --header <header>', 'extra header "Name: value" (repeatable)', collect)
    .option('--timeout-ms <ms>', 'give up after this long (default 10000)', int('--timeout-ms', 1), 10_000)
    .option('--protocol-version <version>', 'speak a stateless revision (2026-07-28): no initialize, _meta on the request')
    .option('--capabilities <json>', 'client capabilities to declare, as a JSON object (default {})')
    .action(async (url: string, method: string, params: string | undefined, opts: Record<string, unknown>) => {
      const { runCall } = await import('./call.js');
      await runCall(url, method, params, opts);
    });

  program
    .command('top')
    .description('Watch a running server: sessions, message rates, latency, slow methods, errors (reads /debug/snapshot; the server needs --dashboard or debugSnapshot)')
    .argument('<url>', 'the server: its ws:// endpoint URL or its http:// base')
    .option('-H, --header <header>', 'extra header "Name: value", e.g. "Authorization: Bearer …" (repeatable)', collect)
    .option('--interval-ms <ms>', 'refresh period (default 1000)', int('--interval-ms', 100), 1000)
    .option('--once', 'print one frame and exit')
    .option('--count <n>', 'frames to print before exiting, 0 = until q or Ctrl-C (default 0)', int('--count'), 0)
    .action(async (url: string, opts: Record<string, unknown>) => {
      const { runTop } = await import('../observe/top.js');
      const headers: Record<string, string> = {};
      for (const h of (opts.header as string[] | undefined) ?? []) {
        const i = h.indexOf(':');
        if (i <= 0) throw new Error(`-H expects "Name: value", got "${h}"`);
        headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
      }
      await runTop(url, { headers, intervalMs: opts.intervalMs as number, once: opts.once === true, count: opts.count as number });
    });

  program
    .command('bench')
    .description('Load-test an MCP server: sessions initialized, JSON-RPC ids matched, latency percentiles and req/s')
    .argument('<url>', 'ws:// or wss:// (MCP over WebSocket), or http:// or https:// (Streamable HTTP)')
    .option('--connections <n>', 'sessions to open (default 10)')
    .option('--concurrency <n>', 'requests in flight per session, closed loop (default 1)')
    .option('--duration <s>', 'measured seconds (default 10)')
    .option('--messages <n>', 'total requests instead of a duration')
    .option('--size <bytes>', 'approximate request size; pads the echo text (default 200)')
    .option('--method <method>', 'JSON-RPC method (default tools/call)')
    .option('--params <json>', 'params as a JSON object (default: the echo tool with padded text)')
    .option('--rate <r>', 'open loop: total requests per second, latency from intended send times')
    .option('--ramp <s>', 'open the sessions over this many seconds first (default 0)')
    .option('--warmup <s>', 'seconds of load before measuring (default 0)')
    .option('-H, --header <header>', 'extra header "Name: value" (repeatable)', collect)
    .option('--subprotocol <name>', 'WebSocket subprotocol to offer, "" for none (default mcp)')
    .option('--codec <name>', 'offer compression: zstd | br | gzip | deflate (as mcp.<codec> before the subprotocol)')
    .option('--workers <n>', 'worker threads generating load (default 1)')
    .option('--timeout-ms <ms>', 'count a request unanswered this long as a timeout (default 10000)')
    .option('--json', 'print the result as JSON on stdout')
    .option('--html <file>', 'write a self-contained HTML report')
    .action(async (url: string, opts: Record<string, unknown>) => {
      const { runBenchCommand } = await import('../loadtest/bench-command.js');
      await runBenchCommand(url, opts);
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
