/**
 * The README's fenced code blocks, and the pieces the README example tests
 * share: compiling a TypeScript example with tsc and running it with node.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { McpWsClient } from '../../src/index.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** One fenced block: its language tag (`ts`, `json`, `sh`, or '' when none), its text, and its first line in the README. */
export interface Block {
  lang: string;
  code: string;
  line: number;
}

/** Every fenced block of README.md, in order. */
export function readmeBlocks(): Block[] {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end] !== '```') end++;
    blocks.push({ lang: open[1]!, code: lines.slice(start, end).join('\n') + '\n', line: start + 1 });
    i = end;
  }
  return blocks;
}

/** The README's URL of the demo server, which examples are rewritten to point elsewhere. */
export const README_URL = 'ws://127.0.0.1:8080/ws';

/**
 * Writes `code` to DIR/NAME.ts, type-checks it strictly as an ES module
 * (nodenext resolution, so `mcp-ws` resolves through the package's
 * `exports` as it does for a user) and emits DIR/NAME.js beside it.
 * Returns tsc's output, '' when clean.
 */
export function compile(dir: string, name: string, code: string): string {
  const file = join(dir, `${name}.ts`);
  writeFileSync(file, code);
  const r = spawnSync(
    process.execPath,
    [TSC, '--strict', '--noEmitOnError', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--rootDir', dir, '--outDir', dir, file],
    { cwd: dir, encoding: 'utf8', timeout: 60_000 },
  );
  return r.status === 0 ? '' : `${r.stdout}${r.stderr}` || `tsc exited with ${String(r.status)} (${String(r.signal)})`;
}

/** A running node script with its output collected. */
export interface Script {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

/** Runs `node file ...args` in `cwd` with `env` added. */
export function start(file: string, cwd: string, env: NodeJS.ProcessEnv = {}, args: string[] = []): Script {
  const child = spawn(process.execPath, [file, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, out: () => out, err: () => err, exit };
}

/** Polls `pick(out)` every 50 ms until it returns a value, at most `ms`. */
export async function waitFor<T>(s: Script, pick: (out: string) => T | undefined, ms: number): Promise<T> {
  for (let i = 0; i < ms / 50; i++) {
    const v = pick(s.out());
    if (v !== undefined) return v;
    if (s.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no expected output in ${ms} ms; stdout: ${s.out()} stderr: ${s.err()}`);
}

/** Resolves with the exit code, or kills the script and rejects after `ms`. */
export async function finished(s: Script, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      s.child.kill('SIGKILL');
      reject(new Error(`did not exit in ${ms} ms; stdout: ${s.out()} stderr: ${s.err()}`));
    }, ms);
  });
  try {
    return await Promise.race([s.exit, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The ws:// URL a server example printed, if any yet. */
export function printedUrl(out: string): string | undefined {
  return /ws:\/\/[^\s'"]+/.exec(out)?.[0];
}

/**
 * Compiles and runs one ts example in `dir`. A server example (it calls
 * `.listen()`) gets `port: 0`, must print its ws:// URL, answer an MCP
 * client's tools/list and exit 0 on SIGTERM; a client example gets
 * `demoUrl` for the README's URL and must exit 0 by itself.
 */
export async function runTsExample(dir: string, name: string, source: string, demoUrl: string): Promise<void> {
  const isServer = source.includes('.listen()');
  const code = isServer ? source.replaceAll('port: 8080', 'port: 0') : source.replaceAll(README_URL, demoUrl);
  expect(compile(dir, name, code)).toBe('');
  const script = start(join(dir, `${name}.js`), dir, { TOKEN: 'readme-token' });
  if (!isServer) {
    expect(await finished(script, 20_000), script.err()).toBe(0);
    expect(script.err()).toBe('');
    return;
  }
  try {
    const url = await waitFor(script, printedUrl, 20_000);
    const c = await McpWsClient.connect(url, { heartbeat: false });
    await c.initialize();
    const tools = (await c.request('tools/list', {})) as { tools: Array<{ name: string }> };
    expect(tools.tools.length).toBeGreaterThan(0);
    await c.close();
  } finally {
    script.child.kill('SIGTERM');
  }
  expect(await finished(script, 20_000), script.err()).toBe(0);
}
