/**
 * Soak: a bounded run of well-behaved and hostile peers against a real
 * `mcp-ws serve` and a real `mcp-ws gateway` (stdio upstream), on loopback.
 *
 *   npm run soak                         10 minutes, 8 well-behaved clients
 *   npm run soak -- --minutes 1 --clients 4
 *   npm run soak -- --seconds 20 --out /tmp/soak
 *
 * Prints the report as Markdown tables and writes
 * bench/results/soak-<date>.json and .md (or into --out). Exit code 0 when
 * the run met its bounds (PASS), 1 when not (FAIL), 2 on bad flags or when
 * the run could not start. docs/RELIABILITY.md describes the actors and
 * bounds.
 */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runSoak } from './soak/run.js';
import { toMarkdown, writeReport } from './soak/report.js';
import { stamp } from './lib/suite.js';

function positive(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} should be an integer from 1 to ${max}, got "${value}"`);
  return n;
}

async function main(): Promise<number> {
  let seconds: number;
  let clients: number;
  let pipeline: number;
  let out: string;
  let bin: string;
  try {
    const { values } = parseArgs({
      options: {
        minutes: { type: 'string' },
        seconds: { type: 'string' },
        clients: { type: 'string' },
        pipeline: { type: 'string' },
        out: { type: 'string' },
        bin: { type: 'string' },
      },
      strict: true,
    });
    if (values.minutes !== undefined && values.seconds !== undefined) throw new Error('give --minutes or --seconds, not both');
    seconds = values.seconds !== undefined ? positive('seconds', values.seconds, 600, 86_400) : positive('minutes', values.minutes, 10, 1_440) * 60;
    if (seconds < 6) throw new Error('a soak needs at least 6 seconds (baseline, hostile, quiet)');
    clients = positive('clients', values.clients, 8, 1_000);
    pipeline = positive('pipeline', values.pipeline, 2_000, 100_000);
    out = values.out ?? fileURLToPath(new URL('../../bench/results', import.meta.url));
    bin = values.bin ?? fileURLToPath(new URL('../../bin/mcp-ws.js', import.meta.url));
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  const command = `npm run soak -- ${process.argv.slice(2).join(' ')}`.trim();
  let report;
  try {
    report = await runSoak({ seconds, clients, pipeline, bin, command, log: (l) => process.stderr.write(`${l}\n`) });
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  const md = toMarkdown(report);
  process.stdout.write(`\n${md}\n`);
  const base = writeReport(out, stamp(new Date(report.started)), report, md);
  process.stderr.write(`soak: wrote ${relative(process.cwd(), base)}.md and .json\n`);
  for (const p of report.processes) {
    if (p.crashes > 0 && p.stderrTail.length) process.stderr.write(`soak: ${p.name} stderr before it exited:\n  ${p.stderrTail.join('\n  ')}\n`);
  }
  return report.verdict === 'PASS' ? 0 : 1;
}

process.exitCode = await main();
