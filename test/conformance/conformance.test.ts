/**
 * The official MCP conformance suite, run by scripts/conformance.mjs against
 * the reference, `mcp-ws serve --module` and `mcp-ws gateway` for both
 * requirement sets, must match the expected-failures baselines: a new
 * failure, an unexpected pass or a stale entry fails this test. Beside it,
 * the baseline rules themselves, on temporary files.
 */
import { execFile, spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { judge, matchesBaseline, readBaseline } from '../../scripts/conformance/baseline.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RUNNER = join(ROOT, 'scripts/conformance.mjs');
const dir = mkdtempSync(join(tmpdir(), 'baseline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function baseline(text: string): string {
  const file = join(dir, `b${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return file;
}

const ok = (id: string) => ({ id, status: 'SUCCESS' });
const bad = (id: string) => ({ id, status: 'FAILURE' });

describe('expected-failures baselines', () => {
  it('reads entries with their reasons, whole scenarios and single checks', () => {
    const entries = readBaseline(baseline('# header\nserver:\n  - a  # why a\n  - b:check-1  # why b\nclient: []\n'));
    expect(entries).toEqual([
      { scenario: 'a', check: undefined, why: 'why a', line: 3 },
      { scenario: 'b', check: 'check-1', why: 'why b', line: 4 },
    ]);
  });

  it('refuses an entry that says no reason, names the file and line', () => {
    const file = baseline('server:\n  - a  # fine\n  - b\n');
    expect(() => readBaseline(file)).toThrow(new RegExp(`${file}:3: entry b says no reason`));
    expect(() => readBaseline(baseline('server:\n  - b   #   \n'))).toThrow(/says no reason/);
  });

  it('refuses lines it does not understand, entries outside server:, and a scenario listed whole and by check', () => {
    expect(() => readBaseline(baseline('server:\n  - a: b  # mapping, not a string\n'))).toThrow(/not an entry/);
    expect(() => readBaseline(baseline('client:\n  - a  # x\n'))).toThrow(/under "server:"/);
    expect(() => readBaseline(baseline('server:\n  - a  # x\n  - a:c  # y\n'))).toThrow(/listed whole and by check/);
  });

  it('judges new failures, expected failures, unexpected passes and stale entries', () => {
    const entries = readBaseline(baseline('server:\n  - known  # x\n  - fixed  # y\n  - gone  # z\n  - partial:c1  # w\n'));
    const judged = judge(
      [
        { scenario: 'fine', checks: [ok('c')] },
        { scenario: 'broke', checks: [ok('c'), bad('d')] },
        { scenario: 'known', checks: [bad('c')] },
        { scenario: 'fixed', checks: [ok('c')] },
        { scenario: 'partial', checks: [bad('c1'), ok('c2')] },
        { scenario: 'silent', checks: undefined },
        { scenario: 'idle', checks: [{ id: 'c', status: 'SKIPPED' }] },
      ],
      entries,
    );
    expect(Object.fromEntries(judged.verdicts.map((v) => [v.scenario, v.verdict]))).toEqual({
      fine: 'pass',
      broke: 'NEW FAILURE',
      known: 'expected',
      fixed: 'UNEXPECTED PASS',
      partial: 'expected',
      silent: 'NO RESULT',
      idle: 'skipped',
    });
    expect(judged.stale.map((e) => e.scenario)).toEqual(['gone']);
    expect(matchesBaseline(judged)).toBe(false);
  });

  it('judges per-check entries per check: another failing check is new, a passing listed one is stale, a skipped one tolerated', () => {
    const entries = readBaseline(baseline('server:\n  - s:c1  # x\n'));
    expect(judge([{ scenario: 's', checks: [bad('c1'), bad('c2')] }], entries).verdicts[0]!.verdict).toBe('NEW FAILURE');
    expect(judge([{ scenario: 's', checks: [ok('c1'), ok('c2')] }], entries).verdicts[0]!.verdict).toBe('UNEXPECTED PASS');
    const tolerated = judge([{ scenario: 's', checks: [{ id: 'c1', status: 'SKIPPED' }, ok('c2')] }], entries);
    expect(tolerated.verdicts[0]!.verdict).toBe('pass');
    expect(matchesBaseline(tolerated)).toBe(true);
  });
});

describe('scripts/conformance.mjs', () => {
  it('refuses an unknown target or requirement set with exit status 2', async () => {
    const got = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [RUNNER, '--target', 'nope'], (err, _out, stderr) => resolve({ code: err ? (err.code as number) : 0, stderr }));
    });
    expect(got.code).toBe(2);
    expect(got.stderr).toMatch(/unknown target nope/);
  });

  it('stopped with SIGTERM mid-run, takes its target down with it and exits 143', async () => {
    const runner = spawn(process.execPath, [RUNNER, '--target', 'reference', '--requirements', '2025-11-25'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => runner.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve) => {
      let err = '';
      runner.stderr.on('data', (d) => {
        err += String(d);
        const m = /at (http:\/\/\S+),/.exec(err);
        if (m) resolve(m[1]!);
      });
    });
    runner.kill('SIGTERM');
    expect(await exited).toBe(143);
    // The target is gone: its port refuses connections (or the wait for its exit ends in one).
    await expect
      .poll(
        () =>
          new Promise<string>((resolve) => {
            const req = request(url, { method: 'GET' }, (res) => {
              res.resume();
              resolve('open');
            });
            req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
            req.end();
          }),
        { timeout: 10_000 },
      )
      .toBe('ECONNREFUSED');
  });

  it(
    'runs the official suite for 2025-11-25 and 2026-07-28 against reference, serve and gateway, matching the baselines',
    async () => {
      const got = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [RUNNER], { cwd: ROOT, timeout: 280_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err.code as number | null) ?? null) : 0, stdout, stderr }),
        );
      });
      expect(got.stdout, got.stderr).toContain('Matches the expected-failures baselines.');
      expect(got.code).toBe(0);
      // The reference (the SDK we build on) passes every scored 2025-11-25 scenario with this fixture.
      expect(got.stdout).toMatch(/--requirements 2025-11-25[\s\S]*?scored scenarios passed\s+30\/30/);
    },
    300_000,
  );
});
