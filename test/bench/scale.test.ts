/**
 * `npm run bench:scale` at a tiny scale, run as a user runs it: the compiled
 * script (dist-bench/) as a child process, which starts a real
 * `mcp-ws serve --workers 2` from bin/mcp-ws.js and real generator
 * processes. It asserts that the run completes and writes its report with
 * every session accounted for, and that bad flags get one line — never a
 * timing figure.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCALE = join(ROOT, 'dist-bench/bench/scale.js');
const out = mkdtempSync(join(tmpdir(), 'mcp-ws-scale-test-'));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function scale(args: string[], timeoutMs: number): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCALE, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`scale ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(() => {
  // The bench is compiled as `npm run bench:scale` does; the server it starts runs from dist/ (npm run build).
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.bench.json'], { cwd: ROOT, stdio: 'pipe', timeout: 240_000 });
}, 250_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm run bench:scale', () => {
  it('rejects bad flags with one line and exit code 2, writing nothing', async () => {
    for (const args of [['0'], ['many'], ['200', '--workers', '0'], ['200', '--sched', 'fast'], ['200', '--active-percent', '101'], ['--bogus']]) {
      const r = await scale([...args, '--out', out], 30_000);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^scale: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(readdirSync(out)).toEqual([]);
  }, 200_000);

  it('opens 200 sessions against 2 workers, drives 1 % of them and writes its report', async () => {
    const r = await scale(['200', '--workers', '2', '--idle-seconds', '3', '--active-seconds', '2', '--out', out], 280_000);
    expect(r.code, r.stderr).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^scale-.*\.json$/);
    expect(files[1]).toMatch(/^scale-.*\.md$/);
    const report = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as {
      loadavg: { start: number[]; end: number[] };
      storm: { opened: number; failed: number };
      idle: { sweeps: number; connectionsActive: number };
      active: { sessions: number; sent: number; answered: number; unanswered: number; errors: number; stillOpen: number };
      memory: { processes: number; perProcess: unknown[] };
      doctor: { text: string };
    };
    expect(report.loadavg.start).toHaveLength(3);
    expect(report.loadavg.end).toHaveLength(3);
    expect(report.storm).toMatchObject({ opened: 200, failed: 0 });
    // Two workers each swept at least once in the idle window; the server counted every session.
    expect(report.idle.sweeps).toBeGreaterThanOrEqual(2);
    expect(report.idle.connectionsActive).toBe(200);
    expect(report.active.sessions).toBe(2);
    expect(report.active.sent).toBeGreaterThan(0);
    expect(report.active.answered + report.active.unanswered).toBe(report.active.sent);
    expect(report.active.errors).toBe(0);
    expect(report.active.stillOpen).toBe(200);
    // The primary and its two workers.
    expect(report.memory.processes).toBe(3);
    expect(report.doctor.text).toContain('mcp-ws doctor');
    const md = readFileSync(join(out, files[1]!), 'utf8');
    expect(md).toContain('Load average (1, 5, 15 min) at the start');
    expect(md).toContain('## Connect storm');
    expect(md).toContain('CPU ms per sweep');
  }, 300_000);
});
