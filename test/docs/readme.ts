/**
 * The README's fenced code blocks, and the pieces the README example tests
 * share: compiling a TypeScript example with tsc and running it with node.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

export function start(file: string, cwd: string, env: NodeJS.ProcessEnv = {}): Script {
  const child = spawn(process.execPath, [file], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
