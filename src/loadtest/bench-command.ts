/**
 * `mcp-ws bench URL [options]`: an MCP-aware load test. Validates the
 * options (one-line errors naming the option), runs {@link runBench} with a
 * progress bar on a terminal, prints the summary (or `--json`) on stdout and
 * writes the `--html` report. Ctrl-C stops the load early and still reports.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { BenchOptionError, resolveBenchOptions, type BenchInput } from './options.js';
import { runBench, type BenchResult } from './runner.js';
import { formatSummary, toJson } from './report.js';
import { renderHtml } from './html-report.js';

/** CLI flags as commander hands them over (strings; repeatable --header as an array). */
export interface BenchFlags extends BenchInput {
  json?: boolean;
  html?: string;
}

function checkHtmlPath(file: string): string {
  const path = resolve(file);
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new BenchOptionError(`--html: directory ${dirname(file)} does not exist`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new BenchOptionError(`--html should name a file, got the directory ${file}`);
  return path;
}

/** Runs the bench command; resolves when the report is out. Throws one-line errors. */
export async function runBenchCommand(url: string, flags: BenchFlags): Promise<BenchResult> {
  const options = resolveBenchOptions(url, flags);
  const htmlPath = flags.html === undefined ? undefined : checkHtmlPath(flags.html);
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);

  const tty = process.stderr.isTTY === true;
  const total = options.messages ?? Math.ceil(options.warmupSeconds + (options.durationSeconds ?? 0));
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `bench |{bar}| {percentage}% | ${options.messages !== undefined ? '{value}/{total} requests' : '{value}/{total} s'} | {answered} answers`,
          hideCursor: true,
          clearOnComplete: true,
          barsize: 30,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let result: BenchResult;
  try {
    result = await runBench(
      options,
      {
        onReady: () => bar?.start(total, 0, { answered: 0 }),
        onProgress: (answered, elapsed) => {
          bar?.update(Math.min(total, options.messages !== undefined ? answered : Math.floor(elapsed)), { answered });
        },
      },
      abort.signal,
    );
  } finally {
    bar?.stop();
    process.removeListener('SIGINT', onSigint);
  }
  process.stdout.write(flags.json ? toJson(result) : formatSummary(result));
  if (htmlPath !== undefined) {
    writeFileSync(htmlPath, renderHtml(result));
    process.stderr.write(`mcp-ws: report written to ${flags.html}\n`);
  }
  return result;
}
