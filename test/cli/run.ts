/**
 * Runs the built CLI (bin/mcp-ws.js → dist/) as a child process, as a user would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/mcp-ws.js', import.meta.url));

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `mcp-ws ...args` to completion (bounded by timeoutMs). */
export function run(args: string[], timeoutMs = 15_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mcp-ws ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A running `mcp-ws serve`. */
export interface Serving {
  child: ChildProcess;
  url: string;
  readyLine: string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Starts `mcp-ws serve ...args` and resolves once it printed its ready line. */
export function serve(args: string[], timeoutMs = 15_000): Promise<Serving> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not get ready in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /^.*(wss?:\/\/\S+).*$/m.exec(stdout);
      if (m) {
        clearTimeout(t);
        resolve({ child, url: m[1]!, readyLine: m[0], stderr: () => stderr, exit });
      }
    });
    void exit.then((code) => {
      clearTimeout(t);
      reject(new Error(`serve exited with ${code} before ready; stderr: ${stderr}`));
    });
  });
}
