/**
 * What a user gets from the registry: `npm pack` (of the built dist/, so run
 * `npm run build` first), the tarball installed into an empty project with
 * @types/node and the optional peers package.json declares (the v2 SDK, as a
 * v2 user installs it beside mcp-ws), and there the README's library examples (its ```ts blocks)
 * compile against the installed package's types and run; the client example
 * talks to the installed package's own `mcp-ws serve`.
 *
 * The install reads the local npm cache first (--prefer-offline) and asks the
 * npm registry only for what the cache lacks (--offline fails: the cache
 * holds tarballs but not every package's metadata). On a shared 2-core
 * machine the install of 181 packages takes about a minute with a warm
 * cache and over two with a cold one, hence the 4-minute deadline; the
 * whole file ran in 76 s warm.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, finished, printedUrl, readmeBlocks, runTsExample, start, waitFor, type Script } from '../docs/readme.js';

const INSTALL_MS = 240_000;
let dir = '';
let serving: Script | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-ws-pack-'));
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, stdio: 'ignore', timeout: 60_000 });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (tarball === undefined) throw new Error('npm pack wrote no tarball');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const { peerDependencies = {} } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { peerDependencies?: Record<string, string> };
  const peers = Object.entries(peerDependencies).map(([name, range]) => `${name}@${range}`);
  const r = spawnSync('npm', ['install', `./${tarball}`, '@types/node@20', ...peers, '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: INSTALL_MS,
  });
  if (r.status !== 0) throw new Error(`npm install of the tarball failed (${String(r.status)} ${String(r.signal)}): ${r.stderr}`);
}, INSTALL_MS + 60_000);

afterAll(async () => {
  if (serving) {
    serving.child.kill('SIGTERM');
    await finished(serving, 20_000).catch(() => undefined);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed tarball, installed', () => {
  it('ships dist and the CLI, not the sources or tests', () => {
    const files = readdirSync(join(dir, 'node_modules/mcp-ws'));
    expect(files).toEqual(expect.arrayContaining(['bin', 'dist', 'package.json', 'README.md']));
    expect(files).not.toContain('src');
    expect(files).not.toContain('test');
  });

  it('runs its own mcp-ws serve', async () => {
    serving = startServe(dir);
    expect(await waitFor(serving, printedUrl, 20_000)).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\//);
  }, 60_000);

  const examples = readmeBlocks().filter((b) => b.lang === 'ts');
  it('the README has library examples', () => expect(examples.length).toBeGreaterThanOrEqual(3));
  for (const [i, b] of examples.entries()) {
    it(`README ts example at line ${b.line} compiles against the installed package and runs`, async () => {
      expect(serving, 'the installed serve is running').toBeDefined();
      const url = printedUrl(serving!.out())!;
      await runTsExample(dir, `example-${i}`, b.code, url);
    }, 90_000);
  }
});

/** `mcp-ws serve --port 0` from the installed package. */
function startServe(cwd: string): Script {
  return start(join(cwd, 'node_modules/mcp-ws/bin/mcp-ws.js'), cwd, {}, ['serve', '--port', '0', '--log-level', 'warn']);
}
