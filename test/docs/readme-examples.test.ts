/**
 * Every example in README.md runs as written. The fenced block's language
 * tag says what kind of example it is:
 *
 * - ```ts   compiled with tsc (strict, nodenext, ES2022) and run with node.
 *           The file is written inside the repository, so `import … from
 *           'mcp-ws'` resolves through package.json's `exports` to dist/
 *           (Node's and TypeScript's self-reference by package name), and
 *           the other imports to the repository's node_modules — what a
 *           user's project gets. An example that calls `.listen()` is a
 *           server: `port: 8080` becomes `port: 0`, it must print its ws://
 *           URL, answer an MCP client, and exit 0 on SIGTERM. Any other is a
 *           client: `ws://127.0.0.1:8080/ws` becomes a live `mcp-ws serve
 *           --port 0`, and it must exit 0 by itself.
 * - ```json a config file: `mcp-ws serve --port 0 --config FILE` must start.
 * - ```sh   every `npx mcp-ws call …` or `node bin/mcp-ws.js call …` line
 *           runs (as `node bin/mcp-ws.js`, URL substituted) and exits 0; a `curl` line (continued lines
 *           joined) gets a JSON-RPC answer from the demo server's Streamable
 *           HTTP; `npm start` starts the demo
 *           server. The other commands are listed in NOT_RUN with the reason;
 *           a new sh line that is neither fails this test.
 * - a block without a tag (the CLI synopsis) is not an example.
 *
 * Needs `npm run build` first (dist/ is what the package exports).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpWsClient } from '../../src/index.js';
import { run, serve, type Serving } from '../cli/run.js';
import { README_URL, ROOT, printedUrl, readmeBlocks, runTsExample } from './readme.js';

/** sh commands the test does not run, and why. */
const NOT_RUN: Array<[RegExp, string]> = [
  [/^npm ci\b/, 'the install the test suite itself runs on'],
  [/^npm test\b/, 'the whole suite, this test among it'],
  [/^npx mcp-ws gateway\b/, 'gateway examples need server-everything or remote upstreams; test/gateway covers them'],
  [/^npx mcp-ws serve --workers\b/, 'a cluster on the default port 8080; test/cluster runs --workers on free ports'],
  [/^npx mcp-ws serve --port 808\d --resume-redis\b/, 'two nodes on fixed ports; test/cli/resume-cross-node.test.ts runs --resume-redis nodes on free ports'],
  [/^kill -USR2\b/, "signals a running cluster's primary; test/cluster sends SIGUSR2 to one"],
  [/^ollama\b/, 'a model server outside this repository; test/llm runs the same requests against a local provider speaking its wire format'],
  [/^node bin\/mcp-ws\.js serve .*--llm\b/, 'needs that model server; test/llm serves llm_generate against the local provider'],
];

const blocks = readmeBlocks();
let dir = '';
let demo: Serving;

beforeAll(async () => {
  dir = mkdtempSync(join(ROOT, '.readme-examples-'));
  demo = await serve(['--port', '0', '--log-level', 'warn']);
}, 30_000);

afterAll(async () => {
  demo?.child.kill('SIGTERM');
  await demo?.exit;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('README examples', () => {
  it('has the kinds of examples this test knows', () => {
    expect(blocks.filter((b) => b.lang === 'ts').length).toBeGreaterThanOrEqual(3);
    expect(blocks.filter((b) => b.lang === 'json').length).toBeGreaterThanOrEqual(2);
    for (const b of blocks) expect(['ts', 'json', 'sh', ''], `README line ${b.line}`).toContain(b.lang);
  });

  for (const [i, b] of blocks.entries()) {
    if (b.lang === 'ts') {
      const isServer = b.code.includes('.listen()');
      it(`ts example at README line ${b.line} compiles and runs (${isServer ? 'server' : 'client'})`, async () => {
        await runTsExample(dir, `example-${i}`, b.code, demo.url);
      }, 60_000);
    } else if (b.lang === 'json') {
      it(`json config at README line ${b.line} starts mcp-ws serve`, async () => {
        const file = join(dir, `config-${i}.json`);
        writeFileSync(file, b.code);
        const s = await serve(['--port', '0', '--config', file, '--log-level', 'warn']);
        s.child.kill('SIGTERM');
        expect(await s.exit).toBe(0);
      }, 30_000);
    } else if (b.lang === 'sh') {
      // A line ending in a backslash continues on the next one, as in sh.
      for (const raw of b.code.replace(/\\\n\s*/g, ' ').split('\n')) {
        const cmd = raw.replace(/\s+#.*$/, '').trim();
        if (cmd === '' || cmd.startsWith('#')) continue;
        const cli = ['npx mcp-ws ', 'node bin/mcp-ws.js '].find((p) => cmd.startsWith(`${p}call `));
        if (cli !== undefined) {
          it(`sh at README line ${b.line}: ${cmd}`, async () => {
            const args = shellWords(cmd.slice(cli.length)).map((a) => (a === README_URL ? demo.url : a));
            const r = await run(args, 20_000);
            expect(r.code, r.stderr).toBe(0);
            expect(() => JSON.parse(r.stdout) as unknown).not.toThrow();
          });
        } else if (cmd.startsWith('curl ')) {
          it(`sh at README line ${b.line}: ${cmd.slice(0, 60)}… answers JSON-RPC over Streamable HTTP`, async () => {
            const origin = demo.url.replace(/^ws:/, 'http:').replace(/\/ws$/, '');
            const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
              const child = spawn('sh', ['-c', cmd.replaceAll('http://127.0.0.1:8080', origin)]);
              let stdout = '';
              child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
              child.on('close', (code) => resolve({ code, stdout }));
            });
            expect(out.code).toBe(0);
            expect(JSON.parse(out.stdout)).toMatchObject({ jsonrpc: '2.0', id: 1 });
          }, 30_000);
        } else if (cmd === 'npm start') {
          it(`sh at README line ${b.line}: npm start runs the demo server`, async () => {
            await npmStart();
          }, 60_000);
        } else {
          it(`sh at README line ${b.line} is a command this test knows: ${cmd}`, () => {
            expect(NOT_RUN.some(([re]) => re.test(cmd)), `${cmd}: run it here or list it in NOT_RUN`).toBe(true);
          });
        }
      }
    }
  }
});

/** Splits a command line the way sh does for the README's quoting (single quotes, plain words). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

/** `npm start -- --port 0`: the demo server prints its URL, answers, and stops on SIGTERM. */
async function npmStart(): Promise<void> {
  const child = spawn('npm', ['start', '--', '--port', '0', '--log-level', 'warn'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  try {
    let url: string | undefined;
    for (let i = 0; i < 600 && url === undefined && child.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 50));
      url = printedUrl(out);
    }
    expect(url, `npm start printed no URL; stderr: ${err}`).toBeDefined();
    const c = await McpWsClient.connect(url!, { heartbeat: false });
    await c.initialize();
    expect(await c.request('tools/call', { name: 'add', arguments: { a: 2, b: 40 } })).toMatchObject({ content: [{ text: '42' }] });
    await c.close();
  } finally {
    if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
  }
  await Promise.race([exit, new Promise((r) => setTimeout(r, 20_000))]);
  if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
}
