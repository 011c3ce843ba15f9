/**
 * What the config says about one upstream (kind, address, credentials,
 * weight), and the helpers that read it: splitting a command line, and a URL
 * with its credentials removed for names and messages. No runtime code:
 * config parsing and the connections both import it.
 */

/** The three kinds of upstream. */
export type UpstreamKind = 'ws' | 'http' | 'stdio';

/** Fields every upstream spec has. */
interface SpecBase {
  /** Label in metrics and logs; unique within a gateway. */
  readonly name: string;
  /** Relative weight for WeightedRoundRobin (positive integer). Default 1. */
  readonly weight: number;
}

/** Another MCP WebSocket server. */
export interface WsUpstreamSpec extends SpecBase {
  readonly kind: 'ws';
  /** ws:// or wss:// URL of its MCP endpoint. */
  readonly url: string;
  /** Headers sent on the upgrade: the upstream's own credentials (a client's are never forwarded). */
  readonly headers: Readonly<Record<string, string>>;
}

/** A Streamable HTTP MCP server. */
export interface HttpUpstreamSpec extends SpecBase {
  readonly kind: 'http';
  /** http:// or https:// URL of its MCP endpoint. */
  readonly url: string;
  /** Headers sent on every request: the upstream's own credentials (a client's are never forwarded). */
  readonly headers: Readonly<Record<string, string>>;
}

/** A stdio MCP server command, one child process per session. */
export interface StdioUpstreamSpec extends SpecBase {
  readonly kind: 'stdio';
  /** Executable (looked up on PATH). */
  readonly command: string;
  /** Its arguments. */
  readonly args: readonly string[];
  /** Extra environment variables for the child. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Pass the gateway's whole environment to the child. Default false: only
   * a safe subset (PATH, HOME, USER, …; the SDK's choice) plus `env`, so the
   * gateway's own secrets do not leak into every upstream.
   */
  readonly inheritEnv: boolean;
  /** Working directory of the child. Default: the gateway's. */
  readonly cwd: string | undefined;
  /**
   * `'line'` (default): our line-delimited JSON over the child's stdio.
   * `'sdk'`: the SDK's StdioClientTransport.
   */
  readonly transport: 'line' | 'sdk';
}

/** One member of the pool, as configured. */
export type UpstreamSpec = WsUpstreamSpec | HttpUpstreamSpec | StdioUpstreamSpec;

/**
 * Splits a command line into words, the way a POSIX shell would for plain
 * words: whitespace separates, single quotes keep everything, double quotes
 * keep everything but `\"` and `\\`, a backslash outside quotes escapes the
 * next character. No expansion of any kind.
 *
 * @throws Error on an unterminated quote
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new Error(`unterminated ' in command ${JSON.stringify(line)}`);
      word += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && (line[j + 1] === '"' || line[j + 1] === '\\')) j++;
        word += line[j];
      }
      if (j >= line.length) throw new Error(`unterminated " in command ${JSON.stringify(line)}`);
      i = j;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The URL without credentials, query or fragment, for names and messages. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url;
  }
}
