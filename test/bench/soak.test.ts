/**
 * `npm run soak`, run as a user runs it: the compiled soak (dist-bench/)
 * as a child process, which starts real `mcp-ws serve` and `mcp-ws gateway`
 * processes from bin/mcp-ws.js. A short run with few clients; it asserts the
 * report's shape, no crash and no lost well-behaved request — not the
 * verdict, whose other bounds (RSS, connections left open) depend on the
 * server under test — and no timing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SoakReport } from '../../bench/soak/report.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SOAK = join(ROOT, 'dist-bench/bench/soak.js');
const out = mkdtempSync(join(tmpdir(), 'mcp-ws-soak-test-'));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function soak(args: string[], timeoutMs: number): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SOAK, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`soak ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(() => {
  // The soak and the module and stdio server it starts are compiled, as `npm run soak` does.
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.bench.json'], { cwd: ROOT, stdio: 'pipe', timeout: 240_000 });
}, 250_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm run soak', () => {
  it('rejects bad flags with one line and exit code 2', async () => {
    for (const args of [['--seconds', '0'], ['--clients', 'many'], ['--minutes', '1', '--seconds', '10'], ['--seconds', '3'], ['--bogus']]) {
      const r = await soak([...args, '--out', out], 20_000);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^soak: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(readdirSync(out)).toEqual([]);
  }, 120_000);

  it('runs both phases against real processes: no crash, no lost request, every actor reported', async () => {
    const r = await soak(['--seconds', '9', '--clients', '3', '--pipeline', '300', '--out', out], 240_000);
    expect([0, 1], r.stderr).toContain(r.code);
    const files = readdirSync(out).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^soak-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.json$/);
    expect(files[1]).toBe(files[0]!.replace(/\.json$/, '.md'));
    const report = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as SoakReport;
    const md = readFileSync(join(out, files[1]!), 'utf8');
    // What was printed is what was written.
    expect(r.stdout).toContain(md.trim());
    expect(md).toContain(`**${report.verdict}**`);
    expect(r.code).toBe(report.verdict === 'PASS' ? 0 : 1);

    expect(report.phasesSeconds.baseline + report.phasesSeconds.hostile + report.phasesSeconds.quiet).toBe(9);
    expect(report.bounds).toMatchObject({ crashes: 0, lost: 0 });
    expect(report.harnessLoopDelayMs.max).toBeGreaterThanOrEqual(0);
    expect(report.processes.map((p) => p.name)).toEqual(['server', 'gateway']);
    for (const p of report.processes) {
      expect(p.crashes, `${p.name}: ${p.stderrTail.join('\n')}`).toBe(0);
      expect(p.shutdown).toBe('code 0');
      expect(p.rssMiB.start).toBeGreaterThan(0);
      expect(p.rssMiB.quietMin).toBeGreaterThan(0);
      expect(typeof p.rssMiB.growth).toBe('number');
      expect(p.aliveAfter).toBe(true);
      expect(p.peakRequestsInFlight).toBeGreaterThanOrEqual(0);
      expect(typeof p.counted).toBe('object');
    }
    expect(report.processes[1]!.peakUpstreamSessions).toBeGreaterThan(0);

    expect(report.wellBehaved.map((w) => w.target)).toEqual(['server', 'gateway']);
    for (const w of report.wellBehaved) {
      expect(w.sent, w.target).toBeGreaterThan(0);
      expect(w.lost, `${w.target}: ${JSON.stringify(w)}`).toBe(0);
      expect(w.wrongAnswers).toBe(0);
      expect(w.sent).toBe(w.answered + w.closedExpected + w.lost);
      expect(w.p99Ms.baseline).toBeGreaterThan(0);
      expect(w.p99Ms.hostile).toBeGreaterThan(0);
    }

    const actors = report.actors.map((a) => `${a.actor}@${a.target}`);
    for (const a of [
      'churn@server',
      'churn@gateway',
      'half-open@server',
      'slow-peer@server',
      'malformed@server',
      'malformed@gateway',
      'throwing-tool@server',
      'throwing-tool@gateway',
      'pipelining@server',
      'pipelining@gateway',
      'upstream-kill@gateway',
    ]) {
      expect(actors).toContain(a);
    }
    for (const a of report.actors) {
      expect(a.cycles, `${a.actor}@${a.target}`).toBeGreaterThan(0);
      expect(Object.values(a.outcomes).reduce((x, y) => x + y, 0), `${a.actor}@${a.target}`).toBeGreaterThan(0);
      expect(Object.keys(a.outcomes).filter((k) => k.startsWith('harness-error')), `${a.actor}@${a.target}`).toEqual([]);
    }
  }, 300_000);
});
