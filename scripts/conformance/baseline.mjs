/**
 * Expected-failures files and the verdict of a run against them.
 *
 * A file is the suite's own YAML baseline format (so it also works with
 * `conformance server --expected-failures FILE`), read line by line so that
 * every entry's reason can be required: each entry is `  - <scenario>` or
 * `  - <scenario>:<check-id>` followed by `# <why>`. An entry without a
 * reason is an error, not a warning.
 *
 * Verdicts, per scenario (or per check, for a `scenario:check-id` entry):
 *   fails, listed      expected failure
 *   fails, not listed  NEW FAILURE          (the run fails)
 *   passes, listed     UNEXPECTED PASS      (the run fails: the baseline is stale)
 *   passes, not listed pass
 *   checks nothing     skipped              (every check SKIPPED, or none)
 * An entry for a scenario the set does not run is stale too; a baselined
 * check that is absent or skipped is tolerated (its scenario stopped early,
 * and the check that stopped it reports its own failure).
 */
import { readFileSync } from 'node:fs';

/**
 * @typedef {{ scenario: string, check: string | undefined, why: string, line: number }} Entry
 * @typedef {{ id: string, status: string, errorMessage?: string }} Check
 * @typedef {{ scenario: string, checks: Check[] | undefined }} ScenarioRun
 * @typedef {'pass' | 'skipped' | 'expected' | 'NEW FAILURE' | 'UNEXPECTED PASS' | 'NO RESULT'} Verdict
 * @typedef {{ scenario: string, failed: string[], verdict: Verdict, note: string }} ScenarioVerdict
 */

/**
 * Reads an expected-failures file's `server:` entries. Throws, naming the
 * file and line, on an entry without a reason or a line it does not understand.
 * @param {string} file
 * @returns {Entry[]}
 */
export function readBaseline(file) {
  const text = readFileSync(file, 'utf8');
  /** @type {Entry[]} */
  const entries = [];
  let section = '';
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\s+$/, '');
    if (line === '' || /^\s*#/.test(line)) return;
    const key = /^([a-z_]+):\s*(\[\])?\s*(#.*)?$/.exec(line);
    if (key) {
      section = key[1];
      return;
    }
    const item = /^\s+-\s+([A-Za-z0-9_./-]+)(?::([A-Za-z0-9_./-]+))?\s*(?:#\s*(.*))?$/.exec(line);
    if (!item) throw new Error(`${file}:${i + 1}: not an entry ("  - scenario  # why" or "  - scenario:check-id  # why"): ${line}`);
    if (section !== 'server') throw new Error(`${file}:${i + 1}: entries belong under "server:"`);
    const why = (item[3] ?? '').trim();
    if (why === '') throw new Error(`${file}:${i + 1}: entry ${item[1]}${item[2] ? `:${item[2]}` : ''} says no reason; add "# why" after it`);
    entries.push({ scenario: item[1], check: item[2], why, line: i + 1 });
  });
  const whole = new Set(entries.filter((e) => e.check === undefined).map((e) => e.scenario));
  for (const e of entries) {
    if (e.check !== undefined && whole.has(e.scenario)) {
      throw new Error(`${file}:${e.line}: ${e.scenario} is listed whole and by check; keep one`);
    }
  }
  return entries;
}

/** Verdicts that keep a run green. */
export const OK_VERDICTS = new Set(['pass', 'skipped', 'expected']);

/** @param {Check} c */
const failing = (c) => c.status === 'FAILURE';

/**
 * Judges each scenario run against the baseline entries.
 * @param {ScenarioRun[]} runs every scenario the set requires or reports, with its checks (undefined: no result)
 * @param {Entry[]} entries
 * @returns {{ verdicts: ScenarioVerdict[], stale: Entry[] }}
 */
export function judge(runs, entries) {
  const ran = new Set(runs.map((r) => r.scenario));
  const stale = entries.filter((e) => !ran.has(e.scenario));
  /** @type {ScenarioVerdict[]} */
  const verdicts = runs.map(({ scenario, checks }) => {
    const mine = entries.filter((e) => e.scenario === scenario);
    const wholeEntry = mine.find((e) => e.check === undefined);
    if (checks === undefined) {
      return wholeEntry
        ? { scenario, failed: [], verdict: 'expected', note: `no result; ${wholeEntry.why}` }
        : { scenario, failed: [], verdict: 'NO RESULT', note: 'the suite wrote no checks for it' };
    }
    const failed = [...new Set(checks.filter(failing).map((c) => c.id))];
    if (checks.every((c) => c.status === 'SKIPPED')) {
      // Ran and checked nothing (e.g. an extension the target does not declare): neither a pass nor a failure.
      return { scenario, failed, verdict: 'skipped', note: wholeEntry ? `skipped; ${wholeEntry.why}` : '' };
    }
    if (wholeEntry) {
      return failed.length > 0
        ? { scenario, failed, verdict: 'expected', note: wholeEntry.why }
        : { scenario, failed, verdict: 'UNEXPECTED PASS', note: `passes; remove the entry (line ${wholeEntry.line})` };
    }
    const byCheck = new Map(mine.map((e) => [e.check, e]));
    const unlisted = failed.filter((id) => !byCheck.has(id));
    if (unlisted.length > 0) return { scenario, failed, verdict: 'NEW FAILURE', note: `failing: ${unlisted.join(', ')}` };
    // A listed check passes when it ran (not only skipped) and no occurrence of it failed.
    const passedListed = mine.filter((e) => {
      const occurrences = checks.filter((c) => c.id === e.check);
      return occurrences.some((c) => c.status !== 'SKIPPED') && !occurrences.some(failing);
    });
    if (passedListed.length > 0) {
      return { scenario, failed, verdict: 'UNEXPECTED PASS', note: `${passedListed.map((e) => e.check).join(', ')} pass; remove the entries` };
    }
    if (failed.length > 0) return { scenario, failed, verdict: 'expected', note: mine.map((e) => `${e.check}: ${e.why}`).join('; ') };
    return { scenario, failed, verdict: 'pass', note: '' };
  });
  return { verdicts, stale };
}

/**
 * @param {{ verdicts: ScenarioVerdict[], stale: Entry[] }} judged
 * @returns {boolean} whether the run matches its baseline
 */
export function matchesBaseline(judged) {
  return judged.stale.length === 0 && judged.verdicts.every((v) => OK_VERDICTS.has(v.verdict));
}
