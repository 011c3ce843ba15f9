/**
 * docs/TROUBLESHOOTING.md runs as written. Every `curl` and `jq` command of
 * its shell blocks (and the inline `curl …` ones) is run with bash
 * (pipefail; asynchronously, the server is in this process) against a real server with every view on (dashboard, debug
 * snapshot, profiling), its port put in place of 8080, in order, in one
 * scratch directory, so a file one command writes is there for the next;
 * a profile's `seconds=20` becomes 1 to keep the run short. Each must exit
 * 0 and print no error; a jq filter must not yield null. Every `mcp-ws`
 * command line is checked against the built CLI: its subcommand exists and
 * every flag it passes is one that subcommand's --help lists; every
 * `--flag` named anywhere in the text is a flag of some mcp-ws command.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeAll, RawClient, startServer } from '../helpers.js';
import { run } from '../cli/run.js';
import { createRedisBackplane } from '../../src/backplane/index.js';
import { REDIS_URL, uniquePrefix } from '../ratelimit/redis-helpers.js';

const doc = readFileSync(fileURLToPath(new URL('../../docs/TROUBLESHOOTING.md', import.meta.url)), 'utf8');

afterAll(closeAll);

/** The lines of the ```sh blocks, comments stripped. */
function shellLines(): string[] {
  const out: string[] = [];
  for (const m of doc.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of m[1]!.split('\n')) {
      const l = line.replace(/\s+#\s.*$/, '').trim();
      if (l !== '') out.push(l);
    }
  }
  return out;
}

/** Inline `curl …` commands of the prose. */
function inlineCurls(): string[] {
  const prose = doc.replace(/```[\s\S]*?```/g, '');
  return [...prose.matchAll(/`(curl -s http[^`]*)`/g)].map((m) => m[1]!);
}

/** Runs `cmd` with bash -o pipefail in `cwd` (bounded at 120 s). */
function sh(cmd: string, cwd: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', cmd], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (status) => {
      clearTimeout(t);
      resolve({ status, stdout, stderr });
    });
  });
}

const helpCache = new Map<string, Set<string>>();
async function flagsOf(command: string): Promise<Set<string>> {
  let f = helpCache.get(command);
  if (f === undefined) {
    const r = await run([command, '--help'], 30_000);
    expect(r.code, `mcp-ws ${command} --help`).toBe(0);
    f = new Set([...r.stdout.matchAll(/(--[a-z][a-z-]*)/g)].map((m) => m[1]!));
    helpCache.set(command, f);
  }
  return f;
}

describe('docs/TROUBLESHOOTING.md', () => {
  it('every mcp-ws command line uses a real subcommand and its real flags; every flag named exists', async () => {
    const commands = shellLines()
      .flatMap((l) => l.split(/&&|;|\|/))
      .map((l) => l.trim().replace(/&$/, '').trim())
      .filter((l) => l.startsWith('mcp-ws '));
    expect(commands.length).toBeGreaterThanOrEqual(8);
    const all = new Set<string>();
    for (const sub of ['serve', 'gateway', 'top', 'bench', 'call']) for (const f of await flagsOf(sub)) all.add(f);
    for (const c of commands) {
      const [, sub, ...rest] = c.split(/\s+/);
      const flags = await flagsOf(sub!);
      for (const a of rest) if (a.startsWith('--')) expect(flags.has(a), `${c}: ${a} is a flag of mcp-ws ${sub}`).toBe(true);
    }
    for (const m of doc.matchAll(/(?<![\w-])(--[a-z][a-z-]*)/g)) expect(all.has(m[1]!), `${m[1]} is a flag of some mcp-ws command`).toBe(true);
  }, 120_000);

  it('every curl and jq command runs against a real server and prints what it promises', async () => {
    // The backplane's lines read its metrics, which it exports whether Redis answers or not (up 0).
    const backplane = createRedisBackplane({ url: REDIS_URL, keyPrefix: uniquePrefix('troubleshooting') });
    const { url, base } = await startServer({ dashboard: true, debugProfile: true, processMetrics: true, backplane });
    const c = await RawClient.session(url);
    for (let i = 0; i < 20; i++) await c.request('tools/call', { name: 'echo', arguments: { text: 'x' } });
    await c.request('no/such/method');
    const port = new URL(base).port;
    const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-troubleshooting-'));
    try {
      const lines = [...shellLines().filter((l) => l.startsWith('curl ') || l.startsWith('jq ')), ...inlineCurls()];
      expect(lines.length).toBeGreaterThanOrEqual(12);
      for (const line of lines) {
        const cmd = line.replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`).replace('seconds=20', 'seconds=1');
        // Asynchronous: the server answering the command runs in this process.
        const r = await sh(cmd, dir);
        expect(r.status, `${line}\n${r.stderr}`).toBe(0);
        expect(r.stderr, line).toBe('');
        if (line.includes('| jq') || line.startsWith('jq ')) expect(r.stdout.trim(), line).not.toMatch(/^null$/m);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await closeAll();
      await backplane.close();
    }
  }, 300_000);
});
