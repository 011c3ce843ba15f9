/**
 * `mcp-ws doctor`: the checks against crafted readings (pure), then the real
 * command on this machine (readings of its own /proc).
 */
import { describe, expect, it } from 'vitest';
import { diagnose, formatChecks, type Readings } from '../../src/cli/doctor.js';
import { run } from './run.js';

const roomy: Readings = {
  openFilesSoft: 1_048_576,
  openFilesHard: 1_048_576,
  fileMax: 10_000_000,
  nrOpen: 1_048_576,
  somaxconn: 65535,
  synBacklog: 8192,
  portRange: [1024, 65535],
  finTimeout: 30,
  rmemMax: 16_777_216,
  wmemMax: 16_777_216,
  cores: 8,
  memoryBytes: 64 * 1024 ** 3,
};
const target = { connections: 100_000, workers: 8, backlog: 1024 };

describe('doctor checks', () => {
  it('a tuned machine has nothing short; past one port range a generator or proxy needs more addresses', () => {
    const checks = diagnose(roomy, target);
    expect(checks.filter((c) => c.status !== 'ok').map((c) => c.name)).toEqual(['net.ipv4.ip_local_port_range (a proxy or load generator: per destination)']);
    expect(diagnose(roomy, { ...target, connections: 50_000 }).every((c) => c.status === 'ok')).toBe(true);
    expect(formatChecks(checks, target)).toMatch(/Nothing is short for this target\./);
  });

  it('a default descriptor limit is short, with the command that fixes it, per process over the workers', () => {
    const checks = diagnose({ ...roomy, openFilesSoft: 1024, openFilesHard: 4096 }, target);
    const soft = checks.find((c) => c.name.startsWith('open files per process (soft)'))!;
    expect(soft.status).toBe('short');
    expect(soft.needed).toBe('≥ 13,524'); // 100,000 / 8 + 1,024 of margin
    expect(soft.fix).toMatch(/^ulimit -n 13524\b/);
    expect(checks.find((c) => c.name.startsWith('open files per process (hard)'))!.fix).toMatch(/LimitNOFILE=13524/);
  });

  it('memory and the accept queue are short; the seed tuning is advice, never a failure', () => {
    const checks = diagnose({ ...roomy, memoryBytes: 512 * 1024 ** 2, somaxconn: 128, finTimeout: 60, rmemMax: 212_992, portRange: [32768, 60999] }, target);
    const by = (prefix: string) => checks.find((c) => c.name.startsWith(prefix))!;
    expect(by('memory').status).toBe('short');
    expect(by('memory').fix).toMatch(/about \d[\d,]* fit here/);
    expect(by('net.core.somaxconn').status).toBe('short');
    expect(by('net.core.somaxconn').fix).toBe('sudo sysctl -w net.core.somaxconn=65535');
    expect(by('net.ipv4.tcp_fin_timeout').status).toBe('advice');
    expect(by('net.core.rmem_max').status).toBe('advice');
    expect(by('net.ipv4.ip_local_port_range').status).toBe('advice');
    expect(by('net.ipv4.ip_local_port_range').value).toBe('32768–60999 (28,232)');
  });

  it('what cannot be read (not Linux) is unknown, not short', () => {
    const none: Readings = { ...roomy, openFilesSoft: undefined, openFilesHard: undefined, fileMax: undefined, nrOpen: undefined, somaxconn: undefined, synBacklog: undefined, portRange: undefined, finTimeout: undefined, rmemMax: undefined, wmemMax: undefined };
    const checks = diagnose(none, target);
    expect(checks.some((c) => c.status === 'short')).toBe(false);
    expect(checks.filter((c) => c.status === 'unknown').length).toBeGreaterThanOrEqual(9);
  });
});

describe('mcp-ws doctor on this machine', () => {
  it('exits 1 exactly when a check is short, and says what to run', async () => {
    const r = await run(['doctor', '--connections', '1000000000', '--workers', '2']);
    // A billion sessions do not fit in any memory here.
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^SHORT\s+memory\b/m);
    expect(r.stdout).toMatch(/check\(s\) short: apply the fixes above/);
    const small = await run(['doctor', '--connections', '100', '--workers', '1']);
    expect(small.code).toBe(/^SHORT/m.test(small.stdout) ? 1 : 0);
  });

  it('--json gives the readings and checks; bad flags get one line', async () => {
    const r = await run(['doctor', '--connections', '5000', '--json']);
    const out = JSON.parse(r.stdout) as { target: { connections: number }; readings: { cores: number }; checks: Array<{ name: string; status: string }> };
    expect(out.target.connections).toBe(5000);
    expect(out.readings.cores).toBeGreaterThan(0);
    expect(out.checks.map((c) => c.name)).toContain('memory');
    for (const bad of [['--connections', 'lots'], ['--connections', '0'], ['--workers', 'none']]) {
      const e = await run(['doctor', ...bad]);
      expect(e.code).not.toBe(0);
      expect(e.stderr).toMatch(/should be/);
      expect(e.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
