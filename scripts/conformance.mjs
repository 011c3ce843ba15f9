#!/usr/bin/env node
/**
 * `npm run conformance`: the official MCP conformance suite
 * (@modelcontextprotocol/conformance, pinned in package.json) against the
 * conformance fixture, for each requirement set, judged against our
 * expected-failures files, with one pass table printed at the end.
 *
 *   node scripts/conformance.mjs [--target reference,serve,gateway]
 *                                [--requirements 2025-11-25,2026-07-28]
 *                                [--out FILE] [--write-baseline] [--verbose]
 *
 * Targets (each started on 127.0.0.1, port 0, its ready line parsed):
 *   reference  the fixture as an SDK v1 Server on the SDK's own Streamable
 *              HTTP transport: what the suite's verdicts look like for the
 *              SDK we build on
 *   serve      `mcp-ws serve --module test/conformance/fixture/router.mjs`
 *              (the native router), at the endpoint's /mcp
 *   gateway    `mcp-ws gateway` in front of the fixture served over stdio
 *              (SDK v1 Server + StdioServerTransport), at /mcp
 *
 * For each target and set, test/conformance/expected-failures/<target>-<set>.yaml
 * lists what is known to fail and why (baseline.mjs). Exit status 1 on a new
 * failure, an unexpected pass, a stale entry or a scenario without results;
 * 2 on a usage or setup error. `--write-baseline` rewrites the files to what
 * this run observed, keeping the reasons of entries that remain; new entries
 * come without one, and the next run refuses them until one is written.
 *
 * The suite runs offline: it talks only to the target's loopback URL. On
 * Node 20 it runs under node20-hook.mjs (its `fs.globSync`).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { judge, matchesBaseline, OK_VERDICTS, readBaseline } from './conformance/baseline.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SUITE_DIR = join(ROOT, 'node_modules/@modelcontextprotocol/conformance');
const SUITE = join(SUITE_DIR, 'dist/index.js');
const HOOK = join(ROOT, 'scripts/conformance/node20-hook.mjs');
const BIN = join(ROOT, 'bin/mcp-ws.js');
const FIXTURE = join(ROOT, 'test/conformance/fixture');
const BASELINES = join(ROOT, 'test/conformance/expected-failures');
const NODE = process.execPath;
/** A target that prints no ready line in this long is reported as failing to start. */
const START_TIMEOUT_MS = 20_000;
/** One requirement set's whole suite run; the suite bounds each scenario itself (30 s). */
const SUITE_TIMEOUT_MS = 10 * 60_000;

/**
 * @typedef {{ describe: string, command: string[], url: (line: string) => string | undefined }} Target
 * @typedef {{ scenario: string, scored: boolean, reason: string }} Required
 */

/** The http:// URL of an mcp-ws endpoint's /mcp path, from its ready line's ws:// URL. */
function mcpWsUrl(line) {
  const m = /\bws:\/\/([^/\s]+)\//.exec(line);
  return m ? `http://${m[1]}/mcp` : undefined;
}

/** @type {Record<string, Target>} */
export const TARGETS = {
  reference: {
    describe: 'SDK v1 Server on the SDK StreamableHTTPServerTransport',
    command: [NODE, join(FIXTURE, 'sdk-http.mjs'), '--port', '0'],
    url: (line) => /\bhttp:\/\/\S+/.exec(line)?.[0],
  },
  serve: {
    describe: 'mcp-ws serve --module fixture/router.mjs (native router)',
    command: [NODE, BIN, 'serve', '--module', join(FIXTURE, 'router.mjs'), '--host', '127.0.0.1', '--port', '0'],
    url: mcpWsUrl,
  },
  gateway: {
    describe: 'mcp-ws gateway --upstream "node fixture/sdk-stdio.mjs"',
    command: [NODE, BIN, 'gateway', '--upstream', `"${NODE}" "${join(FIXTURE, 'sdk-stdio.mjs')}"`, '--host', '127.0.0.1', '--port', '0'],
    url: mcpWsUrl,
  },
};
export const SETS = ['2025-11-25', '2026-07-28'];

/**
 * The server scenarios a requirement set runs, scored or not, from the
 * suite's own frozen requirements file (a plain YAML subset: lists of names
 * under `server:`, and `- scenario: / leg: / reason:` records under `not_scored:`).
 * @param {string} set
 * @returns {Required[]}
 */
export function requiredScenarios(set) {
  const file = join(SUITE_DIR, 'requirements', `${set}.yaml`);
  if (!existsSync(file)) throw new Error(`the pinned suite has no requirement set ${set} (${file})`);
  /** @type {Required[]} */
  const out = [];
  let section = '';
  /** @type {{ scenario?: string, leg?: string, reason?: string } | undefined} */
  let record;
  const flush = () => {
    if (record?.scenario && record.leg === 'server') out.push({ scenario: record.scenario, scored: false, reason: record.reason ?? '' });
    record = undefined;
  };
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    const key = /^([a-z_]+):/.exec(line);
    if (key) {
      flush();
      section = key[1];
      continue;
    }
    if (section === 'server') {
      const m = /^\s+-\s+(\S+)/.exec(line);
      if (m) out.push({ scenario: m[1], scored: true, reason: '' });
    } else if (section === 'not_scored') {
      const m = /^\s+(-\s+)?(scenario|leg|reason):\s*(\S+)/.exec(line);
      if (!m) continue;
      if (m[1]) flush();
      record ??= {};
      record[/** @type {'scenario' | 'leg' | 'reason'} */ (m[2])] = m[3];
    }
  }
  flush();
  return out;
}

/** Children alive now (a target, the suite): stopped if the runner itself is told to stop. */
const live = new Set();
/** The scratch directory of this run (the suite's result files), removed however the run ends. */
let scratch = '';

/**
 * @template {import('node:child_process').ChildProcess} C
 * @param {C} child
 * @returns {C}
 */
function track(child) {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

// Stopped from outside (Ctrl-C, a test timeout): take the target and the suite down too,
// so no server is left listening and no stdio upstream is orphaned.
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    for (const child of live) child.kill('SIGTERM');
    if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

/**
 * Starts a target and resolves with its URL once its ready line is out.
 * @param {Target} target
 */
function start(target) {
  const child = track(spawn(target.command[0], target.command.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + String(d)).slice(-4000)));
  /** @type {Promise<string>} */
  const ready = new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no ready line in ${START_TIMEOUT_MS} ms; stderr: ${stderr}`)), START_TIMEOUT_MS);
    child.stdout.on('data', (d) => {
      out += String(d);
      for (const line of out.split('\n')) {
        const url = target.url(line);
        if (url) {
          clearTimeout(timer);
          child.stdout.removeAllListeners('data');
          child.stdout.resume();
          resolve(url);
          return;
        }
      }
      out = out.slice(-4000);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`exited (${signal ?? code}) before its ready line; stderr: ${stderr}`));
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  /** Stops it: SIGTERM, then SIGKILL if it is still there after 5 s. */
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined);
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve(undefined);
      });
      child.kill('SIGTERM');
    });
  return { ready, stop, stderr: () => stderr };
}

/**
 * Runs the suite for one set against `url`, writing results under `dir`.
 * @returns {Promise<{ code: number | null, output: string }>}
 */
function runSuite(url, set, dir) {
  return new Promise((resolve, reject) => {
    const args = ['--import', HOOK, SUITE, 'server', '--url', url, '--requirements', set, '--output-dir', dir];
    const child = track(spawn(NODE, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    const timer = setTimeout(() => child.kill('SIGKILL'), SUITE_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/**
 * The checks the suite wrote, by scenario: `<dir>/server-<scenario>-<timestamp>/checks.json`.
 * @param {string} dir
 * @returns {Map<string, import('./conformance/baseline.mjs').Check[]>}
 */
function readChecks(dir) {
  const out = new Map();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(entry.name);
    const file = join(dir, entry.name, 'checks.json');
    if (!entry.isDirectory() || !m || !existsSync(file)) continue;
    const checks = /** @type {import('./conformance/baseline.mjs').Check[]} */ (JSON.parse(readFileSync(file, 'utf8')));
    out.set(m[1], [...(out.get(m[1]) ?? []), ...checks]);
  }
  return out;
}

/** @param {string} target @param {string} set */
const baselineFile = (target, set) => join(BASELINES, `${target}-${set}.yaml`);

/**
 * Rewrites a baseline to the failures observed, keeping the reasons of entries that stay.
 * @param {string} file
 * @param {string} title
 * @param {import('./conformance/baseline.mjs').ScenarioVerdict[]} verdicts
 */
function writeBaseline(file, title, verdicts) {
  /** @type {Map<string, string>} */
  const reasons = new Map();
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^\s+-\s+(\S+?)\s*#\s*(.+)$/.exec(line);
      if (m) reasons.set(m[1], m[2].trim());
    }
  }
  const lines = [`# Expected failures: ${title}.`, '# Every entry says why after "#"; scripts/conformance.mjs refuses one that does not.', 'server:'];
  for (const v of verdicts) {
    if (v.verdict === 'pass' || v.verdict === 'skipped' || v.verdict === 'UNEXPECTED PASS') continue;
    const why = reasons.get(v.scenario);
    lines.push(why === undefined ? `  - ${v.scenario}` : `  - ${v.scenario}  # ${why}`);
  }
  if (lines.length === 3) lines[2] = 'server: []';
  writeFileSync(file, `${lines.join('\n')}\n`);
}

/** @param {string[]} argv */
function parseArgs(argv) {
  const opts = { targets: Object.keys(TARGETS), sets: SETS, out: '', write: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--target') opts.targets = value().split(',');
    else if (a === '--requirements') opts.sets = value().split(',');
    else if (a === '--out') opts.out = value();
    else if (a === '--write-baseline') opts.write = true;
    else if (a === '--verbose') opts.verbose = true;
    else throw new Error(`unknown argument ${a}; see the usage at the top of scripts/conformance.mjs`);
  }
  for (const t of opts.targets) if (!(t in TARGETS)) throw new Error(`--target: unknown target ${t}; one of ${Object.keys(TARGETS).join(', ')}`);
  for (const s of opts.sets) if (!SETS.includes(s)) throw new Error(`--requirements: unknown set ${s}; one of ${SETS.join(', ')}`);
  return opts;
}

const pad = (s, n) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
/** @param {string} verdict */
const cell = (verdict) => ({ pass: 'pass', expected: 'fail (expected)' })[verdict] ?? verdict;

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`conformance: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const version = /** @type {{ version: string }} */ (JSON.parse(readFileSync(join(SUITE_DIR, 'package.json'), 'utf8'))).version;
  const work = (scratch = mkdtempSync(join(tmpdir(), 'mcp-ws-conformance-')));
  /** @type {Map<string, Map<string, import('./conformance/baseline.mjs').ScenarioVerdict>>} */
  const grid = new Map(); // `${set}` → `${target}` → verdicts by scenario, flattened below
  /** @type {string[]} */
  const problems = [];
  let ok = true;
  try {
    for (const targetName of opts.targets) {
      const target = TARGETS[targetName];
      for (const set of opts.sets) {
        const required = requiredScenarios(set);
        const file = baselineFile(targetName, set);
        const entries = existsSync(file) ? readBaseline(file) : [];
        if (!existsSync(file)) problems.push(`${targetName} ${set}: no baseline file ${file}`);
        const server = start(target);
        let url;
        try {
          url = await server.ready;
        } catch (err) {
          await server.stop();
          throw new Error(`${targetName} (${target.describe}) did not start: ${err instanceof Error ? err.message : String(err)}`);
        }
        const dir = join(work, `${targetName}-${set}`);
        process.stderr.write(`conformance: ${targetName} at ${url}, requirements ${set} …\n`);
        mkdirSync(dir);
        const suite = await runSuite(url, set, dir);
        await server.stop();
        if (opts.verbose) process.stderr.write(suite.output);
        const checks = readChecks(dir);
        if (checks.size === 0) throw new Error(`the suite wrote no results for ${targetName} ${set} (exit ${suite.code}):\n${suite.output.slice(-3000)}`);
        const judged = judge(
          required.map((r) => ({ scenario: r.scenario, checks: checks.get(r.scenario) })),
          entries,
        );
        if (opts.write) writeBaseline(file, `${targetName} (${target.describe}), --requirements ${set}`, judged.verdicts);
        if (!matchesBaseline(judged) && !opts.write) ok = false;
        for (const e of judged.stale) problems.push(`${targetName} ${set}: stale entry ${e.scenario} (line ${e.line}): not a scenario of this set`);
        for (const v of judged.verdicts) {
          if (!OK_VERDICTS.has(v.verdict)) problems.push(`${targetName} ${set}: ${v.verdict} ${v.scenario}: ${v.note}`);
        }
        let bySet = grid.get(set);
        if (!bySet) grid.set(set, (bySet = new Map()));
        for (const v of judged.verdicts) bySet.set(`${targetName}\u0000${v.scenario}`, v);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  // The pass table: one per requirement set, a row per scenario, a column per target.
  const lines = [`MCP conformance suite ${version} (@modelcontextprotocol/conformance), Node ${process.version}`];
  for (const t of opts.targets) lines.push(`  ${pad(t, 10)} ${TARGETS[t].describe}`);
  for (const set of opts.sets) {
    const required = requiredScenarios(set);
    const bySet = grid.get(set) ?? new Map();
    const w = Math.max(...required.map((r) => r.scenario.length), 8) + 2;
    lines.push('', `--requirements ${set}`, `${pad('scenario', w)}${pad('scored', 8)}${opts.targets.map((t) => pad(t, 18)).join('')}`.trimEnd());
    for (const r of required) {
      const cells = opts.targets.map((t) => pad(cell(bySet.get(`${t}\u0000${r.scenario}`)?.verdict ?? '-'), 18));
      lines.push(`${pad(r.scenario, w)}${pad(r.scored ? 'yes' : 'no', 8)}${cells.join('')}`.trimEnd());
    }
    const scored = required.filter((r) => r.scored);
    const totals = opts.targets.map((t) => {
      const passed = scored.filter((r) => bySet.get(`${t}\u0000${r.scenario}`)?.verdict === 'pass').length;
      return pad(`${passed}/${scored.length}`, 18);
    });
    lines.push(`${pad('scored scenarios passed', w + 8)}${totals.join('')}`.trimEnd());
  }
  lines.push('', problems.length === 0 && ok ? 'Matches the expected-failures baselines.' : 'Does NOT match the expected-failures baselines:');
  for (const p of problems) lines.push(`  ${p}`);
  const table = `${lines.join('\n')}\n`;
  process.stdout.write(table);
  if (opts.out) writeFileSync(opts.out, table);
  return ok && problems.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`conformance: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
